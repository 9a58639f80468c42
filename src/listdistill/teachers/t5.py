"""T5 rerankers, scored from the first decoder step.

* monoT5 (Nogueira et al., 2020; e.g. ``castorini/monot5-base-msmarco``): input
  ``"Query: {q} Document: {d} Relevant:"``; score = log p("true") over {"true", "false"} (log-softmax of the two
  logits).
* RankT5 (Zhuang et al., SIGIR 2023; e.g. ``Soyoung97/RankT5-base``): input ``"Query: {q} Document: {d}"``;
  score = the raw logit of the ``<extra_id_10>`` token.

None ships offline; these are for online use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from listdistill.models import load_checked, materialise, resolve_model
from listdistill.teachers.base import PairTeacher


def single_token_id(tokenizer: object, word: str) -> int:
    """The id of ``word`` as one token (as the model saw it after the decoder start token)."""
    ids = tokenizer(word, add_special_tokens=False).input_ids  # type: ignore[operator]
    if len(ids) != 1:
        raise ValueError(f"{word!r} is {len(ids)} tokens for this tokenizer; a T5 reranker needs one")
    return int(ids[0])


class T5Teacher(PairTeacher):
    """monoT5 (``variant='monot5'``) or RankT5 (``variant='rankt5'``)."""

    def __init__(self, model: str, variant: str, batch_size: int, max_length: int, device: str) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if variant not in ("monot5", "rankt5"):
            raise ValueError(f"T5 variant must be 'monot5' or 'rankt5', got {variant!r}")
        resolved = materialise(resolve_model(model))
        self.name = variant
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.location)
        self.model = load_checked(AutoModelForSeq2SeqLM, resolved.location).to(device).eval()
        self.batch_size, self.max_length, self.device = batch_size, max_length, device
        if variant == "monot5":
            self.token_ids = [single_token_id(self.tokenizer, "true"), single_token_id(self.tokenizer, "false")]
        else:
            tid = self.tokenizer.convert_tokens_to_ids("<extra_id_10>")
            if not isinstance(tid, int) or tid == self.tokenizer.unk_token_id:  # None when a tokenizer lacks it
                raise ValueError("RankT5 needs the <extra_id_10> token, which this tokenizer lacks")
            self.token_ids = [tid]
        start = self.model.config.decoder_start_token_id
        self.decoder_start = int(start if start is not None else self.model.config.pad_token_id)

    def encode(self, query: str, text: str) -> list[int]:
        """Token ids of the prompt; the passage (not the query or the ``Relevant:`` suffix) is truncated."""
        tok = self.tokenizer
        head = tok(f"Query: {query} Document: ", add_special_tokens=False).input_ids
        tail = tok(" Relevant:", add_special_tokens=False).input_ids if self.name == "monot5" else []
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        head = head[: max(0, self.max_length - len(tail) - len(eos) - 1)]
        budget = max(0, self.max_length - len(head) - len(tail) - len(eos))
        body = tok(text, add_special_tokens=False, truncation=True, max_length=max(budget, 1)).input_ids[:budget]
        return head + body + tail + eos

    def first_step_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, V) logits of the first decoder step -> (B,) scores."""
        picked = logits[:, self.token_ids].float()  # (B, 1 or 2)
        return torch.log_softmax(picked, dim=-1)[:, 0] if self.name == "monot5" else picked[:, 0]

    @torch.inference_mode()
    def score_texts(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        ids = [self.encode(q, t) for q, t in zip(queries, texts, strict=True)]
        order = sorted(range(len(ids)), key=lambda i: (-len(ids[i]), i))
        out = np.zeros(len(ids), dtype=np.float64)
        starts = range(0, len(order), self.batch_size)
        for s in tqdm(starts, desc=self.name, disable=len(starts) < 10, unit="batch"):
            idx = order[s : s + self.batch_size]
            enc = self.tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt").to(self.device)
            start = torch.full((len(idx), 1), self.decoder_start, dtype=torch.long, device=self.device)  # (B, 1)
            logits = self.model(**enc, decoder_input_ids=start).logits[:, 0]  # (B, V)
            out[idx] = self.first_step_scores(logits).cpu().numpy()
        return out
