"""Label-free evaluation: synthetic test queries on held-out passages, judged by the teacher.

When a collection has no judgments (or they are hidden, ``dataset.judgments: hide``), ``prepare`` holds a seeded
set of passages out of the generation pool (:func:`listdistill.pool.hold_out_units`), so no training or dev query
is generated from them. The ``proxy`` stage then builds a test set on them, the way training lists are built:

1. the generator writes queries of the ``proxy.types`` for every held-out passage, cleaned as usual;
2. ``mine`` retrieves and fuses candidates for each (BM25 + the zero-shot student) and keeps a query only when
   it finds its own source passage (the round-trip filter, which drops unusable generations);
3. the teacher scores each query's first ``score.depth`` candidates (the source forced in); the scores are mapped
   to [0, 1] by the ``score.norm_low``/``norm_high`` percentiles of all scored pairs, as ``score`` does;
4. graded labels (:func:`grades`): the source passage 3; another candidate with normalised score n at least
   ``proxy.min_relevant`` t gets 1 + floor(3 (n - t) / (1 - t)), at most 3 (thirds of [t, 1]); below t, 0
   (judged, not relevant). The source alone is also written as ``sources.txt``, for the reciprocal rank of the
   source passage.

What this measures is **agreement with the teacher on synthetic queries, not relevance**: a student that copies
the teacher scores well by construction, and the queries are the generator's, not users'. ``evaluate`` says so
in ``metrics/eval.json``, and the README reports how far it tracks real judgments.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from listdistill.io import Qrels
from listdistill.records import GeneratedQuery, MinedQuery, Query
from listdistill.score.lists import percentile_normalise
from listdistill.teachers import Candidates

SOURCE_GRADE = 3
GRADES = 3  # relevant grades 1..3


@dataclass(frozen=True)
class ProxyConfig:
    """No defaults: ``Params.to_proxy`` builds it from ``score`` and ``proxy``."""

    depth: int  # candidates judged per query (score.depth)
    norm_low: float
    norm_high: float
    min_relevant: float

    def __post_init__(self) -> None:
        if not 0 <= self.min_relevant < 1:
            raise ValueError(f"min_relevant must be in [0, 1), got {self.min_relevant}")


@dataclass
class ProxySet:
    queries: list[Query]
    qrels: Qrels  # graded teacher labels
    sources: Qrels  # the source passage of each query (grade 1)
    generated: list[GeneratedQuery]  # every kept query with its type and source, for leakage checks
    stats: dict[str, object] = field(default_factory=dict)


def grade(score: float, min_relevant: float) -> int:
    """A candidate's grade from its normalised teacher score (see the module docstring)."""
    if score < min_relevant:
        return 0
    return min(GRADES, 1 + math.floor(GRADES * (score - min_relevant) / (1 - min_relevant)))


def grades(doc_ids: Sequence[str], scores: Sequence[float], source: str, min_relevant: float) -> dict[str, int]:
    """The graded labels of one query's scored candidates: the source ``SOURCE_GRADE``, the others by score."""
    pairs = zip(doc_ids, scores, strict=True)
    return {d: SOURCE_GRADE if d == source else grade(float(s), min_relevant) for d, s in pairs}


def label(mined: Sequence[MinedQuery], lists: Sequence[Candidates], raw: Sequence[np.ndarray],
          config: ProxyConfig) -> ProxySet:  # fmt: skip
    """The test set from the teacher's raw scores of ``lists`` (:func:`listdistill.score.lists.teacher_lists` of the
    mined queries: the first ``depth`` candidates, the source forced in; one per mined query, same order)."""
    norm = percentile_normalise(raw, config.norm_low, config.norm_high)
    queries, qrels, sources, generated = [], {}, {}, []
    histogram: Counter[int] = Counter()
    for q, c, n in zip(mined, lists, norm, strict=True):
        labels = grades(c.doc_ids, n.tolist(), q.source_doc_id, config.min_relevant)
        queries.append(Query(q.query_id, q.text))
        qrels[q.query_id] = labels
        sources[q.query_id] = {q.source_doc_id: 1}
        generated.append(GeneratedQuery(q.query_id, q.text, q.query_type, q.source_doc_id))
        histogram.update(labels.values())
    relevant = [sum(g > 0 for g in labels.values()) for labels in qrels.values()]
    stats: dict[str, object] = {
        "queries": len(queries),
        "queries_by_type": dict(sorted(Counter(q.query_type for q in generated).items())),
        "judged_pairs": sum(histogram.values()),
        "grades": {str(g): histogram[g] for g in range(GRADES + 1)},
        "relevant_per_query": round(float(np.mean(relevant)), 4) if relevant else 0.0,
    }
    return ProxySet(queries, qrels, sources, generated, stats)
