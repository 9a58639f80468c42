"""First-stage retrievers as pairwise scorers: exact BM25 (Lucene), the zero-shot student's cosine, and the cosine
of another encoder (``dense:<model-ref>``)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from listdistill.encoder import Encoder, EncoderConfig
from listdistill.records import Doc
from listdistill.teachers.base import PairTeacher, passages


class BM25Teacher(PairTeacher):
    """The exact Lucene BM25 score of each (query, passage) pair, the same number a BM25 search returns (so a
    candidate the BM25 search did not retrieve still gets its true score, 0 when no query term matches)."""

    name = "bm25"

    def __init__(self, index_dir: str | Path, k1: float, b: float) -> None:
        from listdistill.index.lucene import DocumentScorer

        self.scorer = DocumentScorer(index_dir, k1, b)

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        pairs = zip(queries, doc_ids, strict=True)
        return np.array([self.scorer.score(d, q) for q, d in pairs])


class EmbeddingCache:
    """Passage embeddings of one encoder configuration, keyed by the SHA-256 of the passage text, in one ``.npz``
    file under ``folder`` (merged with what another process wrote meanwhile, and replaced atomically), so a
    ``dense:<model-ref>`` teacher encodes each passage once across query types, shards and runs."""

    def __init__(self, folder: str | Path, config: EncoderConfig) -> None:
        from listdistill.models import resolve_model

        settings = {k: v for k, v in vars(config).items() if k not in ("batch_size", "device", "query_max_length")}
        settings["location"] = resolve_model(config.model).location
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(folder) / f"passages-{key}.npz"
        self.rows: dict[bytes, np.ndarray] = {}
        self._load()

    def _load(self) -> None:
        if self.path.is_file():
            with np.load(self.path) as z:
                self.rows.update(zip(z["keys"].tolist(), z["emb"], strict=True))

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    def lookup(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        return [self.rows.get(self.key(t)) for t in texts]

    def add(self, texts: Sequence[str], emb: np.ndarray) -> None:
        """Add rows (N, d) for ``texts`` and write the file."""
        self._load()
        self.rows.update((self.key(t), e) for t, e in zip(texts, emb, strict=True))
        keys = list(self.rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.stem}.tmp-{os.getpid()}.npz")
        np.savez(tmp, keys=np.array(keys, dtype="S32"), emb=np.stack([self.rows[k] for k in keys]))
        tmp.replace(self.path)


class DenseTeacher(PairTeacher):
    """Cosine (inner product of normalised embeddings) of a bi-encoder: the zero-shot student (passages looked up
    in the index stage's corpus embeddings when given) or another model (``dense:<model-ref>``: only the passages
    the lists need are encoded, each once, through an :class:`EmbeddingCache` when given)."""

    name = "dense"

    def __init__(
        self,
        config: EncoderConfig,
        corpus_emb: np.ndarray | None = None,
        doc_ids: Sequence[str] | None = None,
        cache: EmbeddingCache | None = None,
        name: str = "dense",
    ) -> None:
        self.encoder = Encoder(config)
        self.corpus_emb = corpus_emb
        self.row = {d: i for i, d in enumerate(doc_ids or [])}
        self.cache = cache
        self.name = name

    def passage_embeddings(self, doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        """Embeddings (D, d) of distinct ``doc_ids``: from the corpus embeddings, the cache, else encoded."""
        out = np.zeros((len(doc_ids), self.encoder.dim), dtype=np.float32)  # (D, d)
        todo = []
        cached = self.cache.lookup(passages(doc_ids, docs)) if self.cache is not None else [None] * len(doc_ids)
        for i, d in enumerate(doc_ids):
            if self.corpus_emb is not None and d in self.row:
                out[i] = self.corpus_emb[self.row[d]]
            elif cached[i] is not None:
                out[i] = cached[i]
            else:
                todo.append(i)
        if todo:
            texts = passages([doc_ids[i] for i in todo], docs)
            out[todo] = self.encoder.encode_passages(texts)
            if self.cache is not None:
                self.cache.add(texts, out[todo])
        return out

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        uniq_q = sorted(set(queries))
        q_emb = self.encoder.encode_queries(uniq_q)  # (Q, d)
        q_row = {q: i for i, q in enumerate(uniq_q)}
        uniq_d = sorted(set(doc_ids))
        d_emb = self.passage_embeddings(uniq_d, docs)  # (D, d)
        d_row = {d: i for i, d in enumerate(uniq_d)}
        qi = np.array([q_row[q] for q in queries], dtype=np.int64)
        di = np.array([d_row[d] for d in doc_ids], dtype=np.int64)
        return np.einsum("nd,nd->n", q_emb[qi], d_emb[di]).astype(np.float64)  # (N,)
