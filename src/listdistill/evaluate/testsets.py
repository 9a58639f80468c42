"""The test sets ``evaluate`` scores, read from what ``prepare`` and ``proxy`` wrote, and how each is scored.

* ``judgments``: the collection's (or the user's) judged queries, ``data/prepared/{queries.jsonl,qrels.txt}``.
  When the corpus was cut into passages and the judgments name documents, passage runs are turned into document
  runs by each document's best passage (MaxP) and scored against the documents' judgments.
* ``label-free``: the proxy stage's synthetic queries on the held-out passages, ``data/proxy``: nDCG@10 and R@100
  against the teacher's graded labels, and the reciprocal rank of the source passage (``source_RR@10``).
* ``hidden``: with ``dataset.judgments: hide``, the hidden judgments, scored like ``judgments`` beside the
  label-free evaluation (to validate it).

Each set says what kind of evaluation it is (:func:`EvalSet.describe`), written into ``metrics/eval.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from listdistill.evaluate.metrics import DEFAULT_MEASURES, per_query
from listdistill.io import Qrels, Run
from listdistill.passages import collapse_qrels, document_of, maxp
from listdistill.records import (
    CollectionInfo,
    Doc,
    Query,
    check_relevant,
    read_collection_info,
    read_qrels,
    read_queries,
)

LABEL_FREE_WHAT = "agreement with the teacher on synthetic queries, not relevance"
JUDGED_WHAT = "relevance judgments"
SOURCE_MEASURE = "source_RR@10"
LABEL_FREE_MEASURES = ("nDCG@10", "R@100")


@dataclass
class EvalSet:
    kind: str  # judgments | label-free | hidden judgments
    queries: list[Query]
    qrels: Qrels  # per passage (judgments of a chunked corpus: expanded to the passages of each document)
    sources: Qrels = field(default_factory=dict)  # label-free: each query's source passage
    maxp: bool = False  # rank documents by their best passage

    @property
    def label_free(self) -> bool:
        return self.kind == "label-free"

    def describe(self) -> dict[str, object]:
        aggregation = "document: the best passage's score (MaxP)" if self.maxp else "passage"
        what = LABEL_FREE_WHAT if self.label_free else JUDGED_WHAT
        labels = "the teacher's grades 0-3 on held-out passages (source 3)" if self.label_free else "judgments"
        return {"kind": self.kind, "what": what, "labels": labels, "queries": len(self.queries),
                "aggregation": aggregation}  # fmt: skip

    def measures(self, run: Run, depth: int) -> dict[str, dict[str, float]]:
        """``{measure: {query_id: value}}`` of one run on this set."""
        if self.label_free:
            pq = per_query(self.qrels, run, LABEL_FREE_MEASURES)
            pq[SOURCE_MEASURE] = per_query(self.sources, run, ("RR@10",))["RR@10"]
            return pq
        if self.maxp:
            return per_query(collapse_qrels(self.qrels), maxp(run, depth), DEFAULT_MEASURES)
        return per_query(self.qrels, run, DEFAULT_MEASURES)


def passage_depth(depth: int, doc_ids: Sequence[str], chunked: bool) -> int:
    """How many passages to retrieve so that MaxP can rank ``depth`` documents: ``depth`` times the most passages
    of any one document (at most the corpus), or ``depth`` itself when the corpus is not chunked."""
    if not chunked:
        return depth
    counts: dict[str, int] = {}
    for d in doc_ids:
        counts[document_of(d)] = counts.get(document_of(d), 0) + 1
    return min(len(doc_ids), depth * max(counts.values(), default=1))


def collection_info(prepared: Path) -> CollectionInfo:
    """``prepared/collection.json``, or, for a folder prepared before it existed, judged queries on whole
    passages."""
    path = prepared / "collection.json"
    if path.is_file():
        return read_collection_info(path)
    return CollectionInfo(str(prepared), 0, 0, False, 0, 0, "judgments", False)


def eval_sets(info: CollectionInfo, prepared: Path, proxy: Path, docs: Sequence[Doc]) -> list[EvalSet]:
    """The sets ``evaluate`` scores, the main one first (none when the collection has nothing to test on); every
    judgment is checked against its queries and the passages ``docs``, and judged sets need a relevant one."""
    sets = []
    if info.evaluation == "judgments":
        queries = read_queries(prepared / "queries.jsonl")
        qrels = read_qrels(prepared / "qrels.txt", queries, docs)
        check_relevant(qrels, str(prepared / "qrels.txt"))
        sets.append(EvalSet("judgments", queries, qrels, maxp=info.chunked))
    elif info.evaluation == "label-free":
        queries = read_queries(proxy / "queries.jsonl")
        qrels, sources = (
            read_qrels(proxy / "qrels.txt", queries, docs),
            read_qrels(proxy / "sources.txt", queries, docs),
        )
        sets.append(EvalSet("label-free", queries, qrels, sources))
    if info.hidden_judgments:
        queries = read_queries(prepared / "hidden_queries.jsonl")
        qrels = read_qrels(prepared / "hidden_qrels.txt", queries, docs)
        check_relevant(qrels, str(prepared / "hidden_qrels.txt"))
        sets.append(EvalSet("hidden judgments", queries, qrels, maxp=info.chunked))
    return sets
