"""Reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009), and the fused run of several systems."""

from __future__ import annotations

from collections.abc import Sequence

from listdistill.io import Run, ranked


def rrf(runs: Sequence[Run], k: int, depth: int | None = None) -> Run:
    """Fuse runs: score(d) = sum over runs of 1 / (k + rank(d)), ranks from 1 with ties broken by doc_id.

    ``depth`` keeps only each run's top ``depth`` before fusing.
    """
    fused: Run = {}
    for run in runs:
        for qid, scores in run.items():
            out = fused.setdefault(qid, {})
            for rank, (did, _) in enumerate(ranked(scores, depth), start=1):
                out[did] = out.get(did, 0.0) + 1.0 / (k + rank)
    return fused


def hybrid_run(runs: Sequence[Run], k: int, rrf_k: int) -> Run:
    fused = rrf(runs, k=rrf_k)
    return {q: dict(sorted(s.items(), key=lambda kv: (-kv[1], kv[0]))[:k]) for q, s in fused.items()}
