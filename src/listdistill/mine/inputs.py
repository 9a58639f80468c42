"""mine's inputs, read and checked against the corpus before any work (docs/formats.md): the generated queries,
the prepared corpus, its qrels and duplicates (the passages no list may hold), and the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from listdistill.encoder import EncoderConfig
from listdistill.errors import StageError
from listdistill.index.runs import IndexPaths
from listdistill.mine.candidates import Retriever, build_retrievers, excluded_docs
from listdistill.records import Doc, GeneratedQuery, read_docs, read_duplicates, read_generated, read_qrels


@dataclass(frozen=True)
class MineInputs:
    corpus: Path  # the prepared corpus.jsonl
    docs: list[Doc]
    queries: list[GeneratedQuery]
    excluded: set[str]  # judged-relevant passages and their duplicates (excluded_docs)
    index: IndexPaths

    def retrievers(self, spec: str, student: EncoderConfig, bm25_k1: float, bm25_b: float, index_type: str,
                   cache_dir: Path) -> list[Retriever]:  # fmt: skip
        """The retrievers of ``spec`` over this corpus and index (:func:`build_retrievers`)."""
        doc_ids = [d.doc_id for d in self.docs]
        return build_retrievers(spec, self.index.lucene, self.index.embeddings, doc_ids, student, bm25_k1, bm25_b,
                                index_type, self.docs, self.corpus, cache_dir)  # fmt: skip


def read_inputs(queries: Path, prepared: Path, index_dir: Path, index_type: str) -> MineInputs:
    """Every input of one query type's mining, each checked against the prepared corpus, the index against the
    corpus and ``index_type``; an empty queries file is an error (generate kept none)."""
    corpus = prepared / "corpus.jsonl"
    docs = read_docs(corpus)
    known = {d.doc_id for d in docs}
    generated = read_generated(queries, known)
    if not generated:
        raise StageError(f"{queries}: expected generated queries, got an empty file (generate kept none?)")
    qrels = read_qrels(prepared / "qrels.txt", docs=docs)
    duplicates = read_duplicates(prepared / "duplicates.jsonl", known)
    index = IndexPaths(index_dir)
    index.check(docs, corpus, index_type)
    return MineInputs(corpus, docs, generated, excluded_docs(qrels, duplicates), index)
