"""The prepare step: a collection loaded and shaped (:mod:`listdistill.data.prepared`), its generation pool and
held-out passages (:mod:`listdistill.pool`), its queries split into test and real training queries
(:mod:`listdistill.split`), and the prepared folder written (docs/formats.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from listdistill.data import DatasetSpec, load_collection
from listdistill.data.chunk import tokenizer_counter
from listdistill.data.prepared import Shaped, shape
from listdistill.io import Qrels, write_json
from listdistill.passages import document_of
from listdistill.pool import PoolResult, build_pool
from listdistill.records import (
    CollectionInfo,
    Query,
    check_relevant,
    relevant_counts,
    write_collection_info,
    write_docs,
    write_duplicates,
    write_qrels,
    write_queries,
)
from listdistill.split import split_queries, training_split


@dataclass
class Prepared:
    """What the prepared folder holds, and its stats (metrics/prepare.json)."""

    shaped: Shaped
    pool: PoolResult
    test: list[Query]
    test_qrels: Qrels
    real: list[Query]
    real_qrels: Qrels
    info: CollectionInfo
    stats: dict[str, object]


def prepare_collection(spec: DatasetSpec, *, judgments: str, chunk_tokens: int, chunk_overlap: int,
                       student_model: str, heldout: int, pool_size: int, real_query_fraction: float,
                       real_split: str, seed: int) -> Prepared:  # fmt: skip
    """Load ``spec``'s collection, cut it with the student's tokenizer, choose the pool (``pool_size`` 0: all) and,
    without judgments, ``heldout`` passages for the label-free evaluation; split the queries into test and real
    training ones (``real_split``: the collection's own training split instead)."""
    col = load_collection(spec)
    counter = lambda: tokenizer_counter(student_model)  # noqa: E731
    s = shape(col, judgments, chunk_tokens, chunk_overlap, counter)
    label_free = not s.queries
    hold_out = heldout if label_free else 0
    unit = document_of if s.chunked else None  # a chunked document is held out whole
    result = build_pool(s.docs, s.qrels, pool_size or None, seed, hold_out, unit)
    real, real_qrels, test, test_qrels = split_queries(s.queries, s.qrels, real_query_fraction, seed)
    if real_split:  # the collection's own training queries (e.g. SciFact's train claims)
        own = shape(load_collection(dataclasses.replace(spec, split=real_split)), "use",
                    chunk_tokens, chunk_overlap, counter)  # fmt: skip
        real, real_qrels = training_split(own.queries, own.qrels, test)
    if real:  # the collection has relevant judgments (checked); the split may have moved them all to training
        check_relevant(test_qrels, f"{spec.name}: the test queries left by prepare.real_query_fraction")
    relevant = relevant_counts(test_qrels, [q.query_id for q in test])  # per test query, 0 when none is relevant
    evaluation = "judgments" if not label_free else "label-free" if result.heldout else "none"
    info = CollectionInfo(spec.name, s.documents, len(s.docs), s.chunked, chunk_tokens, chunk_overlap, evaluation,
                          judgments == "hide" and bool(s.hidden_queries))  # fmt: skip
    counts = {"queries": len(test), "real_training_queries": len(real), "qrels_relevant": sum(relevant.values()),
              "relevant_per_query": relevant, "documents": s.documents, "evaluation": evaluation,
              "hidden_queries": len(s.hidden_queries)}  # fmt: skip
    stats = {"dataset": spec.name, **counts, **result.stats, **s.stats, **col.notes}
    return Prepared(s, result, test, test_qrels, real, real_qrels, info, stats)


def write_prepared(folder: Path, stats: Path, p: Prepared) -> None:
    """The prepared folder (new) and its ``stats`` (JSON)."""
    s, result = p.shaped, p.pool
    folder.mkdir()
    write_docs(folder / "corpus.jsonl", s.docs)
    write_queries(folder / "queries.jsonl", p.test)  # the only queries any system is evaluated on
    write_qrels(folder / "qrels.txt", p.test_qrels)
    write_queries(folder / "real_queries.jsonl", p.real)  # training queries of the real-query arm (none by default)
    write_qrels(folder / "real_qrels.txt", p.real_qrels)
    write_docs(folder / "pool.jsonl", result.pool)
    write_duplicates(folder / "duplicates.jsonl", result.duplicates)
    write_docs(folder / "heldout.jsonl", result.heldout)  # label-free evaluation's passages (proxy stage)
    write_queries(folder / "hidden_queries.jsonl", s.hidden_queries)  # dataset.judgments: hide
    write_qrels(folder / "hidden_qrels.txt", s.hidden_qrels)
    write_collection_info(folder / "collection.json", p.info)
    write_json(stats, p.stats)


def summary(p: Prepared) -> str:
    """The line the prepare stage prints."""
    s = p.shaped
    return (
        f"prepare: {s.documents} docs ({len(s.docs)} passages), {len(p.test)} test and {len(p.real)} training "
        f"queries, pool {len(p.pool.pool)}, held out {len(p.pool.heldout)}; evaluation: {p.info.evaluation}"
    )
