"""Dense retrieval with faiss over student embeddings (exact inner product by default)."""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
from tqdm.auto import tqdm

from listdistill.io import Run


def build_index(embeddings: np.ndarray, index_type: str = "Flat") -> faiss.Index:
    """An inner-product faiss index over (N, d) float32 embeddings; ``index_type`` is a faiss factory string."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    index = faiss.index_factory(emb.shape[1], index_type, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(emb)
    index.add(emb)
    return index


def search(
    index: faiss.Index,
    query_emb: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    k: int,
    chunk: int = 1024,
) -> Run:
    """Top-``k`` doc ids per query, searched in chunks of queries so memory stays bounded."""
    run: Run = {}
    k = min(k, index.ntotal)
    for s in tqdm(range(0, len(query_ids), chunk), desc="faiss search", disable=len(query_ids) <= chunk):
        scores, idx = index.search(np.ascontiguousarray(query_emb[s : s + chunk], dtype=np.float32), k)
        for qid, row_s, row_i in zip(query_ids[s : s + chunk], scores, idx, strict=True):
            run[qid] = {doc_ids[i]: float(sc) for sc, i in zip(row_s, row_i, strict=True) if i >= 0}
    return run
