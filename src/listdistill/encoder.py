"""The student: a bi-encoder with the settings real embedding models need.

Pooling (``mean`` or ``cls``; ``auto`` reads a sentence-transformers ``1_Pooling/config.json``), L2
normalisation, query and passage prefixes or instructions (BGE: ``"Represent this sentence for searching
relevant passages: "``; E5: ``"query: "`` / ``"passage: "``), separate maximum lengths, and inference batches
sorted by length so padding is minimal.

A student trained with ``train.tower: query`` is saved as a sentence-transformers ``Router`` with two towers
(:func:`router_towers`): the fine-tuned query encoder and the untouched passage encoder. :class:`Encoder` loads
both and embeds queries with the first and passages with the second (``passage_model``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from listdistill.models import load_checked, resolve_model


@dataclass(frozen=True)
class EncoderConfig:
    """An encoder's settings. No defaults for what is a param: ``Params.to_encoder`` builds it from ``student`` and
    ``device``."""

    model: str
    pooling: str  # auto | mean | cls
    query_prefix: str  # auto: the model's own (model_prompts)
    passage_prefix: str
    query_max_length: int
    passage_max_length: int
    batch_size: int
    device: str
    dtype: str  # inference (encode): float32 | bfloat16 (autocast; training has its own setting)
    normalize: bool = True


def detect_pooling(folder: Path) -> str:
    """Read the pooling mode from a sentence-transformers folder (classic or two-tower); default to mean pooling."""
    for cfg in [folder / "1_Pooling" / "config.json", *sorted(folder.glob("query_*_Pooling/config.json"))]:
        if cfg.is_file():
            return "cls" if json.loads(cfg.read_text()).get("pooling_mode_cls_token") else "mean"
    return "mean"


AUTO = "auto"


def model_prompts(ref: str, folder: Path | None) -> tuple[str, str]:
    """A model's own (query, passage) prefixes: a ``packaged:`` entry's, else the ``prompts`` of the folder's
    ``config_sentence_transformers.json`` (``query``; ``document``, ``passage`` or ``corpus``), else none."""
    if ref.startswith("packaged:"):
        from listdistill.packaged import encoder_settings

        settings = encoder_settings(ref)
        return settings["query_prefix"], settings["passage_prefix"]
    cfg = folder / "config_sentence_transformers.json" if folder is not None else None
    prompts = json.loads(cfg.read_text(encoding="utf-8")).get("prompts") or {} if cfg and cfg.is_file() else {}
    passage = next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), "")
    return str(prompts.get("query") or ""), str(passage)


def inference_precision(device: str, dtype: str) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast for ``dtype == "bfloat16"`` (matrix products in bfloat16, reductions in float32), else a no-op."""
    if dtype == "float32":
        return contextlib.nullcontext()
    if dtype != "bfloat16":
        raise ValueError(f"encoder dtype must be float32 or bfloat16, got {dtype!r}")
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def router_towers(folder: Path) -> tuple[Path, Path] | None:
    """The (query, passage) Transformer folders of a two-tower sentence-transformers ``Router`` model, or None
    for an ordinary one-tower folder."""
    cfg = folder / "router_config.json"
    if not cfg.is_file():
        return None
    structure = json.loads(cfg.read_text(encoding="utf-8"))["structure"]

    def transformer(route: str) -> Path:
        names = [m for m in structure.get(route, []) if m.endswith("_Transformer")]
        if not names:
            raise ValueError(f"{cfg}: route {route!r} has no Transformer module")
        return folder / names[0]

    return transformer("query"), transformer("document")


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states (B, T, d) with attention mask (B, T) into (B, d)."""
    if mode == "cls":
        return hidden[:, 0]  # (B, d)
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, d)


class Encoder(torch.nn.Module):
    """Wraps a Hugging Face ``AutoModel`` as a query/passage encoder."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        resolved = resolve_model(config.model)
        # the model's own prefixes, used wherever the config says "auto" (also after ``self.config`` is replaced)
        self.own_prompts = model_prompts(config.model, Path(resolved.location) if resolved.local else None)
        self.config = config
        self.location = resolved.location
        towers = router_towers(Path(resolved.location)) if resolved.local else None
        query_dir, passage_dir = towers if towers else (resolved.location, None)
        self.tokenizer = load_checked(AutoTokenizer, query_dir)
        self.model = load_checked(AutoModel, query_dir).to(config.device)
        self.model.eval()
        self.passage_model = self.model  # the same module unless the folder has two towers
        if passage_dir is not None:
            self.passage_model = load_checked(AutoModel, passage_dir).to(config.device).eval()
            self.passage_model.requires_grad_(False)
        self.pooling = (
            detect_pooling(Path(resolved.location))
            if config.pooling == "auto" and resolved.local
            else ("mean" if config.pooling == "auto" else config.pooling)
        )
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'auto', 'mean' or 'cls', got {config.pooling!r}")

    def prefix(self, is_query: bool) -> str:
        """The query or passage prefix in use: the configured text, or the model's own where it says ``auto``."""
        configured = self.config.query_prefix if is_query else self.config.passage_prefix
        return self.own_prompts[0 if is_query else 1] if configured == AUTO else configured

    @property
    def two_towers(self) -> bool:
        return self.passage_model is not self.model

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], is_query: bool) -> torch.Tensor:
        """Embed a batch with gradients enabled when the caller allows them: (B,) texts -> (B, d)."""
        prefix = self.prefix(is_query)
        max_len = self.config.query_max_length if is_query else self.config.passage_max_length
        batch = self.tokenizer(
            [prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=max_len,
            return_tensors="pt",
        ).to(self.config.device)
        model = self.model if is_query else self.passage_model
        hidden = model(**batch).last_hidden_state  # (B, T, d)
        emb = pool(hidden, batch["attention_mask"], self.pooling)  # (B, d)
        return F.normalize(emb, dim=-1) if self.config.normalize else emb

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], is_query: bool, progress: str | None = None) -> np.ndarray:
        """Embed many texts in length-sorted batches; returns float32 (N, d) in the input order."""
        order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        bs = self.config.batch_size
        starts = range(0, len(order), bs)
        with inference_precision(self.config.device, self.config.dtype):
            for s in tqdm(starts, desc=progress, disable=progress is None, unit="batch"):
                idx = order[s : s + bs]
                out[idx] = self.embed([texts[i] for i in idx], is_query).float().cpu().numpy()
        return out

    def encode_queries(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        return self.encode(texts, is_query=True, progress=progress)

    def encode_passages(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        return self.encode(texts, is_query=False, progress=progress)
