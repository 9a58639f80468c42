"""The index step: the passages' Lucene BM25 index (``lucene``, the one pyserini door) and the student's faiss
index of passage embeddings (``dense``)."""
