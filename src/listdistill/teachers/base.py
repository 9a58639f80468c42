"""The teacher interface: score candidate lists; helpers shared by every kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from listdistill.io import Run, ranked
from listdistill.records import Doc, Query


@dataclass(frozen=True)
class Candidates:
    """One query and the passages a teacher scores for it, in candidate order."""

    query_id: str
    text: str
    doc_ids: tuple[str, ...]


class Teacher(ABC):
    """Scores candidate lists. Every kind returns raw scores, higher = more relevant, one array per list."""

    name: str = "teacher"

    @abstractmethod
    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        """Raw scores: one float64 array of shape (L_i,) per list, aligned with ``doc_ids``."""


def split(flat: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """Cut a flat (sum L_i,) array back into per-list arrays."""
    return [a.astype(np.float64) for a in np.split(np.asarray(flat), np.cumsum(lengths)[:-1])] if lengths else []


def passages(doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> list[str]:
    """Texts of ``doc_ids`` (title and body); an unknown id is an error naming it."""
    missing = [d for d in doc_ids if d not in docs]
    if missing:
        raise KeyError(f"candidate doc id(s) {sorted(set(missing))[:5]} not in the corpus")
    return [docs[d].contents for d in doc_ids]


class PairTeacher(Teacher):
    """A teacher that scores each (query, passage) pair independently."""

    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        queries = [c.text for c in lists for _ in c.doc_ids]
        doc_ids = [d for c in lists for d in c.doc_ids]
        return split(self.score_pairs(queries, doc_ids, docs), [len(c.doc_ids) for c in lists])

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        """Scores (N,) of N pairs; by default scores texts, retrieval teachers use the ids."""
        return self.score_texts(queries, passages(doc_ids, docs))

    def score_texts(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


def normalise_list(scores: np.ndarray, method: str) -> np.ndarray:
    """Per-list normalisation for ensembles: ``zscore`` ((s - mean) / std) or ``minmax`` ((s - min) / range).

    A list with a single score or constant scores normalises to zeros.
    """
    s = np.asarray(scores, dtype=np.float64)  # (L,)
    if method == "zscore":
        std = s.std()
        return (s - s.mean()) / std if std > 0 else np.zeros_like(s)
    if method == "minmax":
        span = s.max() - s.min() if len(s) else 0.0
        return (s - s.min()) / span if span > 0 else np.zeros_like(s)
    raise ValueError(f"normalisation must be 'zscore' or 'minmax', got {method!r}")


def rerank_run(
    teacher: Teacher,
    queries: Sequence[Query],
    base_run: Run,
    docs: Mapping[str, Doc],
    depth: int = 20,
    keep_tail: bool = True,
) -> Run:
    """Rerank each query's top ``depth`` of ``base_run`` by the teacher (the distillation ceiling).

    The teacher's order decides the top ``depth``; with ``keep_tail`` the rest of the base run follows in its
    own order (scores placed below the reranked head), so recall at deeper cutoffs is unchanged. Queries absent
    from the base run are absent from the result.
    """
    lists, tails = [], {}
    for q in queries:
        order = [d for d, _ in ranked(base_run.get(q.query_id, {}))]
        if order:
            lists.append(Candidates(q.query_id, q.text, tuple(order[:depth])))
            tails[q.query_id] = order[depth:] if keep_tail else []
    out: Run = {}
    for c, scores in zip(lists, teacher.score(lists, docs), strict=True):
        # Rank positions become scores: head first (teacher order, ties by candidate order), then the tail.
        head = sorted(range(len(c.doc_ids)), key=lambda i: (-scores[i], i))
        total = len(head) + len(tails[c.query_id])
        ids = [c.doc_ids[i] for i in head] + tails[c.query_id]
        out[c.query_id] = {d: float(total - r) for r, d in enumerate(ids)}
    return out
