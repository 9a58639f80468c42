"""Cross-encoder rerankers (``AutoModelForSequenceClassification``), e.g. ``cross-encoder/ms-marco-MiniLM-L-12-v2``
or ``BAAI/bge-reranker-base`` (one logit: the score is the logit), or two-label models (the score is the positive
class's log-softmax, ``log p(relevant)``). None ships offline; these are for online use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from listdistill.models import load_checked, materialise, resolve_model
from listdistill.teachers.base import PairTeacher


def logits_to_scores(logits: torch.Tensor) -> torch.Tensor:
    """(B, 1) -> the logit; (B, 2) -> log-softmax of label 1 (relevant)."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if logits.shape[-1] == 2:
        return torch.log_softmax(logits.float(), dim=-1)[:, 1]
    raise ValueError(f"a cross-encoder needs 1 or 2 output labels, got {logits.shape[-1]}")


class CrossEncoderTeacher(PairTeacher):
    """Batched pair scoring; pairs are sorted by length so each batch pads little."""

    name = "cross_encoder"

    def __init__(self, model: str, batch_size: int, max_length: int, device: str) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        resolved = materialise(resolve_model(model))
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.location)
        self.model = load_checked(AutoModelForSequenceClassification, resolved.location).to(device).eval()
        self.batch_size, self.max_length, self.device = batch_size, max_length, device

    @torch.inference_mode()
    def score_texts(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        order = sorted(range(len(queries)), key=lambda i: (-len(queries[i]) - len(texts[i]), i))
        out = np.zeros(len(queries), dtype=np.float64)
        starts = range(0, len(order), self.batch_size)
        for s in tqdm(starts, desc="cross-encoder", disable=len(starts) < 10, unit="batch"):
            idx = order[s : s + self.batch_size]
            batch = self.tokenizer(
                [queries[i] for i in idx],
                [texts[i] for i in idx],
                padding=True,
                truncation=True,  # longest first: long passages are cut, the query mostly kept
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            out[idx] = logits_to_scores(self.model(**batch).logits).float().cpu().numpy()  # (B,)
        return out
