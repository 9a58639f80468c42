"""A loaded collection shaped for the pipeline: judgments hidden when asked, documents cut into passages, and the
judgments made per passage (:mod:`listdistill.data.chunk`), with what ``data/prepared/collection.json`` says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from listdistill.data import Collection
from listdistill.data.chunk import Counter, check_chunk_size, chunk_corpus, expand_qrels
from listdistill.io import Qrels
from listdistill.records import Doc, Query


@dataclass
class Shaped:
    docs: list[Doc]  # the passages
    queries: list[Query]  # the test queries (none when label-free)
    qrels: Qrels  # their judgments, per passage
    hidden_queries: list[Query] = field(default_factory=list)  # dataset.judgments: hide
    hidden_qrels: Qrels = field(default_factory=dict)
    documents: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def chunked(self) -> bool:
        return "passages" in self.stats


def shape(col: Collection, judgments: str, chunk_tokens: int, chunk_overlap: int,
          counter: Callable[[], Counter]) -> Shaped:  # fmt: skip
    """Hide the judgments (``judgments == "hide"``), then cut the documents into passages when ``chunk_tokens`` >
    0 (``counter()`` gives the student's token counter, built only then) and expand every judgment to the
    passages of its document."""
    queries, qrels, hidden_q, hidden_qrels = col.queries, col.qrels, [], {}
    if judgments == "hide":
        queries, qrels, hidden_q, hidden_qrels = [], {}, col.queries, col.qrels
    if not chunk_tokens:
        return Shaped(col.docs, queries, qrels, hidden_q, hidden_qrels, len(col.docs))
    count = counter()
    check_chunk_size(col.docs, chunk_tokens, count)
    chunked = chunk_corpus(col.docs, chunk_tokens, chunk_overlap, count)
    passages = chunked.passages
    return Shaped(passages, queries, expand_qrels(qrels, passages), hidden_q, expand_qrels(hidden_qrels, passages),
                  len(col.docs), chunked.stats)  # fmt: skip
