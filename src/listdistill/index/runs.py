"""Runs over the index stage's outputs: where they are (:class:`IndexPaths`), BM25 and dense search of a list of
queries, and the zero-shot or fine-tuned student's run (reusing the index's corpus embeddings when the student's
passage tower is the one that encoded them). Used by mine, score, real and evaluate alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from listdistill.encoder import Encoder, EncoderConfig
from listdistill.index import dense
from listdistill.io import Run, read_json
from listdistill.records import Doc, EmbeddingsMeta, Query, read_embeddings, read_embeddings_meta


@dataclass(frozen=True)
class IndexPaths:
    """What the ``index`` stage writes."""

    root: Path

    @property
    def lucene(self) -> Path:
        return self.root / "lucene"

    @property
    def embeddings(self) -> Path:
        return self.root / "corpus_emb.npy"

    @property
    def meta(self) -> Path:
        return self.root / "corpus_emb.json"

    def read_meta(self) -> EmbeddingsMeta:
        return read_embeddings_meta(self.meta)

    @property
    def doc_ids(self) -> list[str]:
        return list(self.read_meta().doc_ids)

    def check(self, corpus: Sequence[Doc], corpus_file: str | Path, faiss_index: str | None = None) -> EmbeddingsMeta:
        """Check the index against the corpus before any work (:func:`~listdistill.records.read_embeddings`: one
        finite float32 row per passage, in corpus order), that it has a Lucene folder, and that ``faiss_index``
        fits its embeddings (:func:`~listdistill.index.dense.check_fits`); return the embeddings' metadata."""
        if not self.lucene.is_dir():
            raise FileNotFoundError(f"{self.lucene}: no Lucene index here (rerun the index stage)")
        meta, _ = read_embeddings(self.meta, self.embeddings, [d.doc_id for d in corpus], f"the corpus {corpus_file}")
        if faiss_index is not None:
            dense.check_fits(faiss_index, len(meta.doc_ids), meta.dim)
        return meta


def bm25_run(index: IndexPaths, queries: Sequence[Query], k: int, k1: float, b: float) -> Run:
    from listdistill.index.lucene import BM25

    return BM25(index.lucene, k1, b).search([q.query_id for q in queries], [q.text for q in queries], k)


def dense_run(
    encoder: Encoder,
    corpus_emb: np.ndarray,
    doc_ids: list[str],
    queries: Sequence[Query],
    k: int,
    index_type: str = "Flat",
) -> Run:
    index = dense.build_index(corpus_emb, index_type)
    q_emb = encoder.encode_queries([q.text for q in queries])
    return dense.search(index, q_emb, [q.query_id for q in queries], doc_ids, k)


def zero_shot_run(cfg: EncoderConfig, index: IndexPaths, queries: Sequence[Query], k: int, index_type: str) -> Run:
    """The zero-shot student, reusing the corpus embeddings from the index stage."""
    return dense_run(Encoder(cfg), np.load(index.embeddings, mmap_mode="r"), index.doc_ids, queries, k, index_type)


def passages_unchanged(student_dir: Path, index: IndexPaths) -> bool:
    """True when the student was trained on its query tower only (``train.tower: query``) against the passage
    encoder whose corpus embeddings the index holds, so they can be reused as they are."""
    training = student_dir / "training.json"
    if not training.is_file() or not index.meta.is_file():
        return False
    passage_model = read_json(training).get("passage_model")
    return passage_model is not None and passage_model == index.read_meta().model


def student_run(
    cfg: EncoderConfig,
    docs: Sequence[Doc],
    queries: Sequence[Query],
    k: int,
    index_type: str = "Flat",
    index: IndexPaths | None = None,
) -> Run:
    """A (fine-tuned) student: encode the corpus with its passage tower, then search. A query-tower student
    reuses the index's corpus embeddings instead (see :func:`passages_unchanged`)."""
    encoder = Encoder(cfg)
    if index is not None and encoder.two_towers and passages_unchanged(Path(cfg.model), index):
        return dense_run(encoder, np.load(index.embeddings, mmap_mode="r"), index.doc_ids, queries, k, index_type)
    corpus_emb = encoder.encode_passages([d.contents for d in docs], progress="encode corpus (student)")
    return dense_run(encoder, corpus_emb, [d.doc_id for d in docs], queries, k, index_type)
