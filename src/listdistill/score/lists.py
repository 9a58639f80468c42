"""Teacher-scored training lists: score each mined query's first L candidates, filter, normalise, split.

Steps, in order (all over one query type):

1. Lists: the first ``depth`` candidates of each query, in mined (fused) order. If the source passage is not
   among them (possible with the ``any`` round-trip rule) it replaces the last one, so every list holds its
   positive.
2. The teacher scores every list (raw scores, higher = more relevant).
3. Filters, each decided on the raw scores of all scored queries: the consistency filter keeps a query only if
   the teacher ranks its source passage first (ties count against it); the score filter drops queries whose top
   teacher score is below the ``min_top_percentile``-th percentile of all queries' top scores.
4. Normalisation, as in the paper: raw scores are mapped to [0, 1] by the ``norm_low``-th and ``norm_high``-th
   percentiles of all scored pairs of the type (before filtering) and clipped; the raw score is kept too.
5. Split by query id: a query is in dev when a seeded hash of its id falls below ``dev_fraction`` (so no query
   is in both, and a query's side does not depend on which other queries exist).

Steps 1-2 are the heavy part and per query: :func:`raw_scores` scores consecutive units of queries with one
teacher call each, so a shard of the units (:mod:`listdistill.shard`) computes exactly what a whole run computes
for them, and writes them with :func:`write_raw`. Steps 3-5 are global: :func:`finalise` runs them on the raw
scores of all queries (:func:`read_raw` joins the shards' parts). :func:`score_queries` does both in one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from listdistill.records import (
    PRECISION,
    Doc,
    ScoredCandidate,
    ScoredQuery,
    numbered_jsonl,
    write_jsonl,
)
from listdistill.records import MinedQuery as MinedQuery  # tests and bench import it from here
from listdistill.shard import ShardError
from listdistill.split import in_dev
from listdistill.teachers import Candidates, Teacher


@dataclass(frozen=True)
class ScoreConfig:
    """No defaults for what is a param: ``Params.to_score`` builds it from ``score`` and ``seed``."""

    depth: int  # candidates scored per query (L)
    consistency: bool  # keep a query only if the teacher ranks its source first
    min_top_percentile: float  # drop queries whose top score is below this percentile of top scores
    norm_low: float  # percentile mapped to 0
    norm_high: float  # percentile mapped to 1
    dev_fraction: float
    seed: int

    def __post_init__(self) -> None:
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 (a list needs negatives), got {self.depth}")
        if not 0 <= self.min_top_percentile <= 100:
            raise ValueError(f"min_top_percentile must be in [0, 100], got {self.min_top_percentile}")
        if not 0 <= self.norm_low < self.norm_high <= 100:
            raise ValueError(
                f"norm_low ({self.norm_low:g}) must be below norm_high ({self.norm_high:g}), both in [0, 100]"
            )
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")


@dataclass
class ScoreResult:
    train: list[ScoredQuery]
    dev: list[ScoredQuery]
    stats: dict[str, object] = field(default_factory=dict)


def teacher_lists(mined: Sequence[MinedQuery], depth: int) -> list[Candidates]:
    """First ``depth`` candidates of each query, the source forced in (replacing the last) when missing."""
    out = []
    for q in mined:
        ids = list(dict.fromkeys(q.candidates))[:depth]
        if q.source_doc_id not in ids:
            ids = ids[: depth - 1] + [q.source_doc_id]
        out.append(Candidates(q.query_id, q.text, tuple(ids)))
    return out


def percentile_normalise(scores: Sequence[np.ndarray], low: float, high: float) -> list[np.ndarray]:
    """Map every score to [0, 1] by the ``low``/``high`` percentiles of all scores pooled, clipping outside."""
    pooled = np.concatenate([np.asarray(s, dtype=np.float64) for s in scores]) if scores else np.zeros(0)
    if pooled.size == 0:
        return []
    lo, hi = np.percentile(pooled, [low, high])
    span = hi - lo
    if span <= 0:
        return [np.full(len(s), 0.5) for s in scores]
    return [np.clip((np.asarray(s, dtype=np.float64) - lo) / span, 0.0, 1.0) for s in scores]


def source_is_top(doc_ids: Sequence[str], scores: np.ndarray, source: str) -> bool:
    """True if the source scores strictly above every other candidate."""
    i = list(doc_ids).index(source)
    others = np.delete(np.asarray(scores), i)
    return bool(others.size == 0 or scores[i] > others.max())


def raw_scores(
    lists: Sequence[Candidates], teacher: Teacher, docs: Mapping[str, Doc], units: Sequence[range] | None = None
) -> list[np.ndarray]:
    """Step 2: the teacher's raw scores of ``lists`` as float64, one teacher call per unit (ranges of consecutive
    lists; None: one call for all)."""
    if units is None:
        units = [range(len(lists))] if lists else []
    raw: list[np.ndarray] = []
    for unit in units:
        raw.extend(np.asarray(s, dtype=np.float64) for s in teacher.score(lists[unit.start : unit.stop], docs))
    return raw


def score_queries(
    mined: Sequence[MinedQuery],
    teacher: Teacher,
    docs: Mapping[str, Doc],
    config: ScoreConfig,
    units: Sequence[range] | None = None,
) -> ScoreResult:
    """Steps 1-5 of the module docstring (teacher calls per unit, see :func:`raw_scores`); records keep the
    input order within each split."""
    lists = teacher_lists(mined, config.depth)
    return finalise(mined, lists, raw_scores(lists, teacher, docs, units), config)


def write_raw(path: str | Path, lists: Sequence[Candidates], raw: Sequence[np.ndarray]) -> int:
    """A shard's raw scores, one JSON line per query: ``query_id``, ``doc_ids`` and ``raw`` (full precision)."""
    return write_jsonl(
        path,
        (
            {"query_id": c.query_id, "doc_ids": list(c.doc_ids), "raw": [float(x) for x in r]}
            for c, r in zip(lists, raw, strict=True)
        ),
    )


def read_raw(paths: Sequence[str | Path], lists: Sequence[Candidates]) -> list[np.ndarray]:
    """The raw scores of the parts (in shard order), checked to be those of ``lists``, in order."""
    raw: list[np.ndarray] = []
    for path in paths:
        for where, o in numbered_jsonl(path):
            i = len(raw)
            got = (o.get("query_id"), tuple(o.get("doc_ids") or ()))
            if i >= len(lists) or got != (lists[i].query_id, lists[i].doc_ids) or "raw" not in o:
                raise ShardError(f"{where}: expected the raw scores of query {i + 1} of the mined candidates")
            raw.append(np.asarray(o["raw"], dtype=np.float64))
    if len(raw) != len(lists):
        raise ShardError(f"the parts {[str(p) for p in paths]} hold {len(raw)} of the {len(lists)} mined queries")
    return raw


def finalise(
    mined: Sequence[MinedQuery], lists: Sequence[Candidates], raw: Sequence[np.ndarray], config: ScoreConfig
) -> ScoreResult:
    """Steps 3-5 of the module docstring, over the raw scores of every query."""
    norm = percentile_normalise(raw, config.norm_low, config.norm_high)
    tops = np.array([s.max() for s in raw]) if raw else np.zeros(0)
    threshold = float(np.percentile(tops, config.min_top_percentile)) if tops.size else 0.0
    result = ScoreResult(train=[], dev=[])
    inconsistent = low = 0
    for q, c, r, n in zip(mined, lists, raw, norm, strict=True):
        consistent = source_is_top(c.doc_ids, r, q.source_doc_id)
        inconsistent += not consistent
        low += bool(r.max() < threshold)
        if (config.consistency and not consistent) or r.max() < threshold:
            continue
        scored = tuple(
            ScoredCandidate(d, float(ns), float(rs))  # rounded by the writer (records.write_scored)
            for d, ns, rs in zip(c.doc_ids, n, r, strict=True)
        )
        record = ScoredQuery(q.query_id, q.text, q.query_type, q.source_doc_id, scored)
        (result.dev if in_dev(q.query_id, config.dev_fraction, config.seed) else result.train).append(record)
    result.stats = score_stats(len(mined), raw, lists, mined, inconsistent, low, threshold, result, config)
    return result


def score_stats(
    n_in: int,
    raw: Sequence[np.ndarray],
    lists: Sequence[Candidates],
    mined: Sequence[MinedQuery],
    inconsistent: int,
    low: int,
    threshold: float,
    result: ScoreResult,
    config: ScoreConfig,
) -> dict[str, object]:
    """Counts, thresholds and how the teacher's order relates to the mined order."""
    pooled = np.concatenate(raw) if raw else np.zeros(0)
    lo, hi = (float(x) for x in np.percentile(pooled, [config.norm_low, config.norm_high])) if pooled.size else (0, 0)
    source_ranks = [
        1 + int(np.sum(r > r[list(c.doc_ids).index(q.source_doc_id)]))
        for q, c, r in zip(mined, lists, raw, strict=True)
    ]
    kept = len(result.train) + len(result.dev)

    def r6(x: float) -> float:
        return round(float(x), PRECISION)

    return {
        "queries_in": n_in,
        "pairs_scored": int(pooled.size),
        "inconsistent": inconsistent,  # teacher does not rank the source first (counted whether or not filtered)
        "below_top_percentile": low,
        "kept": kept,
        "dropped": n_in - kept,
        "train": len(result.train),
        "dev": len(result.dev),
        "top_score_threshold": r6(threshold),
        "norm_low_value": r6(lo),
        "norm_high_value": r6(hi),
        "teacher_source_mrr": r6(float(np.mean([1 / r for r in source_ranks]))) if source_ranks else 0.0,
    }


def teacher_label(kind: str, ensemble: str, normalise: str) -> str:
    """The teacher as metrics/score/<type>.json names it."""
    return kind if kind != "ensemble" else f"ensemble({ensemble}; {normalise})"


def summary(name: str, stats: dict[str, object], seconds: float) -> str:
    """The line the score stage prints for query type ``name``."""
    pairs = int(stats["pairs_scored"])  # type: ignore[call-overload]
    return (
        f"score {name}: {stats['kept']}/{stats['queries_in']} kept "
        f"(train {stats['train']}, dev {stats['dev']}); {pairs} pairs in {seconds:.1f}s"
        f" ({pairs / max(seconds, 1e-9):.1f} pairs/s)"
    )
