"""Seeded hash splits by id: dev lists in ``score`` and ``real``, and the real-query arm's train/test split in
``prepare``. A query's side depends only on (seed, id), never on which other queries are present."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from listdistill.io import Qrels
from listdistill.records import Query


def in_dev(query_id: str, fraction: float, seed: int) -> bool:
    """A query's split side: a uniform number from a hash of (seed, query id), compared with ``fraction``."""
    h = int.from_bytes(hashlib.sha256(f"{seed}\x00{query_id}".encode()).digest()[:8], "big")
    return h / 2**64 < fraction


def split_queries(
    queries: Sequence[Query], qrels: Qrels, fraction: float, seed: int
) -> tuple[list[Query], Qrels, list[Query], Qrels]:
    """(training queries, their qrels, test queries, their qrels): a query trains when a seeded hash of its id
    falls below ``fraction`` (0: every query is a test query)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the real-query training fraction must be in [0, 1), got {fraction}")
    train = [q for q in queries if in_dev(q.query_id, fraction, seed)]
    ids = {q.query_id for q in train}
    test = [q for q in queries if q.query_id not in ids]
    return train, {q: r for q, r in qrels.items() if q in ids}, test, {q: r for q, r in qrels.items() if q not in ids}


def training_split(queries: Sequence[Query], qrels: Qrels, test: Sequence[Query]) -> tuple[list[Query], Qrels]:
    """The real arm's training queries from another qrels split of the collection (e.g. SciFact's ``train``):
    those queries and their qrels, less any query id that is also a test query (never train on a test query)."""
    test_ids = {q.query_id for q in test}
    train = [q for q in queries if q.query_id not in test_ids]
    ids = {q.query_id for q in train}
    return train, {q: r for q, r in qrels.items() if q in ids}
