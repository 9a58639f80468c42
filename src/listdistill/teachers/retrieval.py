"""First-stage retrievers as pairwise scorers: exact BM25 (Lucene) and the zero-shot student's cosine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from listdistill.encoder import Encoder, EncoderConfig
from listdistill.io import Doc
from listdistill.teachers.base import PairTeacher, passages


class BM25Teacher(PairTeacher):
    """The exact Lucene BM25 score of each (query, passage) pair, the same number a BM25 search returns (so a
    candidate the BM25 search did not retrieve still gets its true score, 0 when no query term matches)."""

    name = "bm25"

    def __init__(self, index_dir: str | Path, k1: float = 0.9, b: float = 0.4) -> None:
        from listdistill.lucene import autoclass, configure

        configure()
        from pyserini.index.lucene import LuceneIndexReader

        self.reader = LuceneIndexReader(str(index_dir))
        self.similarity = autoclass("org.apache.lucene.search.similarities.BM25Similarity")(float(k1), float(b))

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        pairs = zip(queries, doc_ids, strict=True)
        return np.array([self.reader.compute_query_document_score(d, q, self.similarity) for q, d in pairs])


class DenseTeacher(PairTeacher):
    """Cosine (inner product of normalised embeddings) of the zero-shot student; passages are looked up in the
    index stage's corpus embeddings when given, else encoded."""

    name = "dense"

    def __init__(
        self,
        config: EncoderConfig,
        corpus_emb: np.ndarray | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> None:
        self.encoder = Encoder(config)
        self.corpus_emb = corpus_emb
        self.row = {d: i for i, d in enumerate(doc_ids or [])}

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        uniq_q = sorted(set(queries))
        q_emb = self.encoder.encode_queries(uniq_q)  # (Q, d)
        q_row = {q: i for i, q in enumerate(uniq_q)}
        uniq_d = sorted(set(doc_ids))
        d_emb = np.zeros((len(uniq_d), q_emb.shape[1]), dtype=np.float32)  # (D, d)
        missing = [i for i, d in enumerate(uniq_d) if self.corpus_emb is None or d not in self.row]
        if missing:
            d_emb[missing] = self.encoder.encode_passages(passages([uniq_d[i] for i in missing], docs))
        for i, d in enumerate(uniq_d):
            if self.corpus_emb is not None and d in self.row:
                d_emb[i] = self.corpus_emb[self.row[d]]
        d_row = {d: i for i, d in enumerate(uniq_d)}
        qi = np.array([q_row[q] for q in queries], dtype=np.int64)
        di = np.array([d_row[d] for d in doc_ids], dtype=np.int64)
        return np.einsum("nd,nd->n", q_emb[qi], d_emb[di]).astype(np.float64)  # (N,)
