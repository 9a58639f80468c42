"""Real-query diagnostic arms: a seeded share of the collection's own queries as training queries.

``prepare`` splits the test queries by a seeded hash of the query id (:func:`listdistill.split.split_queries`): a
query goes to training when the hash falls below ``fraction``, and only the other queries (with their qrels) are
written as the test set, so no system can be evaluated on a query it was trained on. This module turns the
training queries into scored lists in the format of the ``score`` stage, labelled one of two ways:

* ``teacher``: the first ``depth`` fused (BM25 + student) candidates scored by the teacher, normalised like
  ``score`` does (percentiles of all pairs); the teacher's top passage is the positive. The qrels are not read.
  This separates "bad synthetic queries" from "bad teacher": same teacher, real queries.
* ``qrels``: the supervised upper bound. The same candidates labelled by the training half's judgments: a
  passage's score is its grade over the query's best grade (unjudged: 0); the best-graded judged passage is the
  positive (added in place of the last candidate when not retrieved); queries with no usable judged passage are
  dropped. A sound recipe must not lose with these labels.

In both, the candidate lists exclude the passages judged relevant for a *test* query (and duplicates), as
``mine`` does for synthetic queries; a training query's own judged passage is dropped too when it is also
relevant to a test query. Records: :class:`~listdistill.records.ScoredQuery` with ``query_id`` ``real-<id>``,
``query_type`` ``real`` and the positive in ``source_doc_id``, split into train/dev like ``score``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from listdistill.encoder import EncoderConfig
from listdistill.index.runs import IndexPaths, bm25_run, zero_shot_run
from listdistill.io import Qrels, Run, ranked
from listdistill.mine.candidates import excluded_docs
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Doc, Query, ScoredCandidate, ScoredQuery, read_docs, read_duplicates, read_qrels
from listdistill.score.lists import percentile_normalise
from listdistill.split import in_dev
from listdistill.teachers import Candidates, Teacher, TeacherConfig, TeacherResources, build_teacher

LABELS = ("teacher", "qrels")
QUERY_TYPE = "real"


@dataclass(frozen=True)
class RealConfig:
    """No defaults: ``Params.to_real`` builds it from ``real``, ``score`` and ``seed``."""

    labels: str  # teacher | qrels
    depth: int  # candidates per list (L)
    norm_low: float
    norm_high: float
    dev_fraction: float
    seed: int

    def __post_init__(self) -> None:
        if self.labels not in LABELS:
            raise ValueError(f"labels must be one of {LABELS}, got {self.labels!r}")


def query_id(qid: str) -> str:
    return f"{QUERY_TYPE}-{qid}"


def qrels_list(ids: list[str], judged: Mapping[str, int], depth: int) -> tuple[list[str], list[float]] | None:
    """The list (best-graded judged passage forced in) and its grade-based scores, or None with no judged one."""
    best = max(judged.values(), default=0)
    if best <= 0:
        return None
    ids = ids[:depth]
    top = min((d for d, g in judged.items() if g == best), key=lambda d: (ids.index(d) if d in ids else depth, d))
    if top not in ids:
        ids = ids[: depth - 1] + [top]
    return ids, [max(judged.get(d, 0), 0) / best for d in ids]


def real_lists(prepared: Path, index: IndexPaths, queries: list[Query], config: RealConfig, *, encoder: EncoderConfig,
               k: int, k1: float, b: float, rrf_k: int, teacher: TeacherConfig,
               resources: Callable[[list[str]], TeacherResources],
               ) -> tuple[list[ScoredQuery], list[ScoredQuery]]:  # fmt: skip
    """(train, dev) lists of the real training ``queries`` of the prepared folder: the first ``k`` of the fused
    BM25 (``k1``, ``b``) and zero-shot ``encoder`` runs (RRF ``rrf_k``) once the excluded passages are removed,
    labelled by the ``teacher`` (with ``resources(doc_ids)``) or by their qrels (``config.labels``)."""
    # every input checked against the others before any work (docs/formats.md)
    corpus = read_docs(prepared / "corpus.jsonl")
    known = {d.doc_id for d in corpus}
    duplicates = read_duplicates(prepared / "duplicates.jsonl", known)
    excluded = excluded_docs(read_qrels(prepared / "qrels.txt", docs=corpus), duplicates)
    real_qrels = read_qrels(prepared / "real_qrels.txt", queries, corpus)
    index.check(corpus, prepared / "corpus.jsonl", "Flat")
    docs = {d.doc_id: d for d in corpus}
    deep = k + len(excluded)  # enough to keep k candidates once the excluded passages are removed
    dense = zero_shot_run(encoder, index, queries, deep, "Flat")
    fused = hybrid_run([bm25_run(index, queries, deep, k1, b), dense], deep, rrf_k)
    labeller = build_teacher(teacher, resources(index.doc_ids)) if config.labels == "teacher" else None
    qrels = real_qrels if config.labels == "qrels" else None
    return label_lists(queries, fused, config, docs, labeller, qrels, excluded)


def label_lists(
    queries: Sequence[Query],
    fused: Run,
    config: RealConfig,
    docs: Mapping[str, Doc],
    teacher: Teacher | None = None,
    qrels: Qrels | None = None,
    excluded: set[str] | None = None,
) -> tuple[list[ScoredQuery], list[ScoredQuery]]:
    """(train, dev) scored records for the training queries from their ``fused`` candidate runs."""
    excluded = excluded or set()
    lists = {q.query_id: [d for d, _ in ranked(fused.get(q.query_id, {})) if d not in excluded] for q in queries}
    records: list[ScoredQuery] = []
    if config.labels == "teacher":
        if teacher is None:
            raise ValueError("labels 'teacher' need a teacher")
        usable = [q for q in queries if len(lists[q.query_id]) >= 2]
        cands = [Candidates(q.query_id, q.text, tuple(lists[q.query_id][: config.depth])) for q in usable]
        raw = [np.asarray(s, dtype=np.float64) for s in teacher.score(cands, docs)] if cands else []
        norm = percentile_normalise(raw, config.norm_low, config.norm_high)
        for q, c, r, n in zip(usable, cands, raw, norm, strict=True):
            records.append(_record(q, list(c.doc_ids), list(n), list(r), c.doc_ids[int(np.argmax(r))]))
    else:
        if qrels is None:
            raise ValueError("labels 'qrels' need the training queries' qrels")
        for q in queries:
            judged = {d: g for d, g in qrels.get(q.query_id, {}).items() if d not in excluded}
            made = qrels_list(lists[q.query_id], judged, config.depth)
            if made is not None:
                ids, scores = made
                records.append(_record(q, ids, scores, scores, ids[int(np.argmax(scores))]))
    train = [r for r in records if not in_dev(r.query_id, config.dev_fraction, config.seed)]
    dev = [r for r in records if in_dev(r.query_id, config.dev_fraction, config.seed)]
    return train, dev


def _record(q: Query, ids: list[str], norm: list[float], raw: list[float], source: str) -> ScoredQuery:
    scored = tuple(
        ScoredCandidate(d, float(n), float(r))  # rounded by the writer (records.write_scored)
        for d, n, r in zip(ids, norm, raw, strict=True)
    )
    return ScoredQuery(query_id(q.query_id), q.text, QUERY_TYPE, source, scored)
