"""Passages of a chunked corpus and their documents: ``<doc_id>#<k>`` (:mod:`listdistill.data.chunk` cuts them).

Judgments of a chunked corpus name documents; ``prepare`` writes them per passage (:func:`expand_qrels`, so that
the pool and ``mine`` keep every passage of a judged document out of training), and ``evaluate`` ranks documents
by their best passage (:func:`maxp`) against the documents' judgments (:func:`collapse_qrels`).
"""

from __future__ import annotations

from collections.abc import Sequence

from listdistill.io import Qrels, Run, ranked
from listdistill.records import Doc

SEPARATOR = "#"


def document_of(passage_id: str) -> str:
    """The document of a passage of a chunked corpus (``doc#3`` -> ``doc``)."""
    return passage_id.rsplit(SEPARATOR, 1)[0]


def expand_qrels(qrels: Qrels, passages: Sequence[Doc]) -> Qrels:
    """Per-document judgments made per passage: each passage of a judged document gets the document's grade."""
    by_doc: dict[str, list[str]] = {}
    for p in passages:
        by_doc.setdefault(document_of(p.doc_id), []).append(p.doc_id)
    return {q: {p: g for d, g in judged.items() for p in by_doc.get(d, [])} for q, judged in qrels.items()}


def collapse_qrels(qrels: Qrels) -> Qrels:
    """Passage judgments of a chunked corpus back to documents (a document's grade: its passages' highest)."""
    out: Qrels = {}
    for q, judged in qrels.items():
        docs = out.setdefault(q, {})
        for p, g in judged.items():
            d = document_of(p)
            docs[d] = max(g, docs.get(d, g))
    return out


def maxp(run: Run, k: int) -> Run:
    """A passage run made a document run: each document scored by its best passage (MaxP), cut to ``k``."""
    out: Run = {}
    for q, scores in run.items():
        best: dict[str, float] = {}
        for p, s in scores.items():
            d = document_of(p)
            if d not in best or s > best[d]:
                best[d] = s
        out[q] = dict(ranked(best, k))
    return out
