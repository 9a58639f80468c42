"""Pseudo-queries cut from the passage itself, with no language model.

The inverse cloze task (Lee et al., 2019, "Latent Retrieval for Weakly Supervised Open Domain Question
Answering") takes a sentence of a passage as a query for that passage; independent cropping (Izacard et al.,
2022, "Unsupervised Dense Information Retrieval with Contrastive Learning") takes a span of words. Here a passage
is split into sentences (at ``.``, ``!``, ``?`` or ``;`` followed by a space); a sentence longer than
``max_words`` (including a whole passage written without punctuation, as in Vaswani) is cut into consecutive,
near-equal spans of at most ``max_words`` words; spans shorter than ``min_words`` are dropped; up to
``per_passage`` of them are drawn per passage with a seed derived from ``(seed, doc_id)``. Every span is a
query whose source passage is the one it came from: ``{"query_id": "<type>-<doc_id>-<k>", "text",
"query_type", "source_doc_id"}`` (``k``: the span's position in the passage). Duplicate texts within the type are
dropped (the first kept) with the reason ``duplicate``, too-short passages with ``empty``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from listdistill.records import Doc

SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+")
EDGE_PUNCT = re.compile(r"^[\s.,;:!?'\"()\[\]-]+|[\s.,;:!?'\"()\[\]-]+$")


@dataclass(frozen=True)
class ExtractConfig:
    passages: int = 0  # seeded sample of the pool for this type (0: generate.passages_per_type)
    per_passage: int = 4  # spans drawn per passage (all when fewer)
    min_words: int = 5
    max_words: int = 20


def spans(text: str, min_words: int, max_words: int) -> list[str]:
    """The passage's sentences, long ones cut into near-equal spans of at most ``max_words`` words, in order."""
    out = []
    for sentence in SENTENCE_SPLIT.split(text):
        words = [w for w in sentence.split() if EDGE_PUNCT.sub("", w)]  # drop stand-alone punctuation tokens
        if not words:
            continue
        pieces = math.ceil(len(words) / max_words)
        size = math.ceil(len(words) / pieces)
        for i in range(0, len(words), size):
            chunk = EDGE_PUNCT.sub("", " ".join(words[i : i + size]))
            if len(chunk.split()) >= min_words:
                out.append(chunk)
    return out


def draw(items: Sequence[str], k: int, seed: int, doc_id: str) -> list[tuple[int, str]]:
    """Up to ``k`` of ``items`` with their positions, drawn with a seed from ``(seed, doc_id)``, in position order."""
    idx = list(range(len(items)))
    if len(idx) > k:
        digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()
        idx = sorted(random.Random(int(digest[:8], 16)).sample(idx, k))
    return [(i, items[i]) for i in idx]


def extract_queries(
    docs: Sequence[Doc], query_type: str, cfg: ExtractConfig, seed: int
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Kept queries and every dropped candidate (``status``: ``duplicate`` or ``empty``), in the order of ``docs``."""
    kept: list[dict[str, str]] = []
    dropped: list[dict[str, Any]] = []
    seen: set[str] = set()
    for doc in docs:
        chosen = draw(spans(doc.text, cfg.min_words, cfg.max_words), cfg.per_passage, seed, doc.doc_id)
        if not chosen:
            dropped.append({"query_id": f"{query_type}-{doc.doc_id}", "source_doc_id": doc.doc_id, "status": "empty"})
        for k, text in chosen:
            rec = {"query_id": f"{query_type}-{doc.doc_id}-{k}", "source_doc_id": doc.doc_id}
            key = text.lower()
            if key in seen:
                dropped.append({**rec, "status": "duplicate", "text": text})
                continue
            seen.add(key)
            kept.append({"query_id": rec["query_id"], "text": text, "query_type": query_type, **rec})
    return kept, dropped
