"""What the index stage writes: the Lucene index, the corpus embeddings (``corpus_emb.npy``, whole or stacked from
the parts of a sharded run) and their metadata (``corpus_emb.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from listdistill.errors import StageError
from listdistill.index.lucene import build_index
from listdistill.records import Doc, EmbeddingsMeta, write_embeddings_meta

PART = "corpus_emb.npy"  # a part's slice of the corpus embeddings


def stack_npy(path: Path, parts: list[np.ndarray], rows: int = 65_536) -> None:
    """Write the row-wise concatenation of ``parts`` (memory-mapped slices) to ``path``, ``rows`` at a time, so a
    corpus larger than memory can be merged."""
    n, d = sum(len(p) for p in parts), parts[0].shape[1]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    start = 0
    for part in parts:
        for s in range(0, len(part), rows):
            block = np.asarray(part[s : s + rows], dtype=np.float32)
            out[start : start + len(block)] = block
            start += len(block)
    out.flush()
    del out


def write_meta(out: Path, docs: list[Doc], dim: int, model: str, pooling: str) -> None:
    write_embeddings_meta(out / "corpus_emb.json", EmbeddingsMeta(tuple(d.doc_id for d in docs), dim, model, pooling))


def read_slices(parts: Sequence[tuple[Path, dict[str, Any]]], docs: list[Doc], out: Path) -> list[np.ndarray]:
    """The parts' embeddings, memory-mapped (not read yet), checked to hold one row per passage of ``docs``."""
    slices = [np.load(folder / PART, mmap_mode="r") for folder, _ in parts]  # (n_i, d) each, not read yet
    if sum(len(x) for x in slices) != len(docs):
        n = sum(len(x) for x in slices)
        raise StageError(f"the parts of {out} hold {n} embeddings for {len(docs)} passages")
    return slices


def write_index(folder: Path, docs: list[Doc], emb: np.ndarray | list[np.ndarray], model: str, pooling: str) -> None:
    """The index stage's outputs into the new folder ``folder``: the Lucene index, the embeddings (``emb``: the whole
    corpus's, or the parts' slices, stacked in order) and their metadata."""
    folder.mkdir()
    build_index(docs, folder / "lucene")
    if isinstance(emb, list):
        stack_npy(folder / "corpus_emb.npy", emb)
        dim = int(emb[0].shape[1])
    else:
        np.save(folder / "corpus_emb.npy", emb)
        dim = int(emb.shape[1])
    write_meta(folder, docs, dim, model, pooling)
