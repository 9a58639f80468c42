"""The index's corpus embeddings (meta and array) and shard manifests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from listdistill.io import FormatError, read_json, write_json
from listdistill.records.jsonl import _id, _require
from listdistill.records.rules import UniqueIds, check_id


@dataclass(frozen=True)
class EmbeddingsMeta:
    """What ``corpus_emb.npy`` holds: row ``i`` is the embedding of ``doc_ids[i]``, by ``model`` with ``pooling``."""

    doc_ids: tuple[str, ...]
    dim: int
    model: str
    pooling: str


@dataclass(frozen=True)
class ShardManifest:
    """A shard part's manifest (written last: a part without one is incomplete); ``info``: the stage's extras."""

    shard: str  # "i/N"
    fingerprint: str  # of the settings and inputs that determine the part
    units: int  # work units of the whole run
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "fingerprint": self.fingerprint, "units": self.units, **self.info}


# ------------------------------------------------------------------------------------ embeddings and shards


def read_embeddings_meta(path: str | Path) -> EmbeddingsMeta:
    """Read the index stage's ``corpus_emb.json``: unique doc ids (one per embedding row), dim, model, pooling."""
    o = read_json(path)
    where = str(path)
    if not isinstance(o, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type(o).__name__}")
    _require(o, ("doc_ids", "dim", "model", "pooling"), where)
    if not isinstance(o["doc_ids"], list) or not all(isinstance(d, str) and d for d in o["doc_ids"]):
        raise FormatError(f"{where}: expected 'doc_ids' to be a list of non-empty strings")
    ids = UniqueIds("doc_id")
    for i, d in enumerate(o["doc_ids"]):
        check_id(d, f"doc_ids[{i}]", where)
        ids.add(d, f"{where}: doc_ids[{i}]")
    dim = o["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise FormatError(f"{where}: expected 'dim' to be a positive integer, got {json.dumps(dim)}")
    return EmbeddingsMeta(tuple(o["doc_ids"]), dim, _id(o, "model", where), _id(o, "pooling", where))


def write_embeddings_meta(path: str | Path, meta: EmbeddingsMeta) -> None:
    write_json(path, {"doc_ids": list(meta.doc_ids), "dim": meta.dim, "model": meta.model, "pooling": meta.pooling})


EMBEDDING_ROWS = 65_536  # rows checked at a time, so a corpus larger than memory can be checked


def read_embeddings(
    meta_path: str | Path, npy_path: str | Path, doc_ids: Sequence[str] | None = None, corpus: str = "the corpus"
) -> tuple[EmbeddingsMeta, np.ndarray]:
    """Read the index stage's ``corpus_emb.json`` and memory-map ``corpus_emb.npy``, checked against each other
    and, with ``doc_ids`` (the corpus's, in corpus order), against the corpus: a float32 (N, dim) array, one row
    per doc id, every value finite, and the doc ids those of the corpus in the same order. Errors name the file,
    the row and its doc id (a missing row would shift every dense hit to the wrong passage)."""
    meta = read_embeddings_meta(meta_path)
    try:
        emb = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{npy_path}: no such file (rerun the index stage)") from None
    except (ValueError, OSError) as e:
        raise FormatError(f"{npy_path}: expected a NumPy .npy array, got an unreadable file ({e})") from None
    expected = (len(meta.doc_ids), meta.dim)
    if emb.dtype != np.float32 or emb.shape != expected:
        raise FormatError(
            f"{npy_path}: expected float32 embeddings of shape {expected} ({meta_path}: {expected[0]} doc ids of "
            f"dim {meta.dim}), got {emb.dtype} {emb.shape}; rerun the index stage"
        )
    for start in range(0, len(emb), EMBEDDING_ROWS):
        finite = np.isfinite(np.asarray(emb[start : start + EMBEDDING_ROWS])).all(axis=1)  # (rows,)
        if not finite.all():
            row = start + int(np.argmin(finite))
            raise FormatError(
                f"{npy_path}: expected finite embeddings, row {row} (doc {meta.doc_ids[row]!r}) holds NaN or "
                "infinity; rerun the index stage"
            )
    if doc_ids is not None and list(meta.doc_ids) != list(doc_ids):
        n, m = len(meta.doc_ids), len(doc_ids)
        first = next((i for i, (a, b) in enumerate(zip(meta.doc_ids, doc_ids, strict=False)) if a != b), min(n, m))
        got = meta.doc_ids[first] if first < n else "no row"
        want = doc_ids[first] if first < m else "no passage"
        raise FormatError(
            f"{meta_path}: expected the embeddings of {corpus} ({m} passages, in corpus order), got {n} rows; row "
            f"{first} is {got!r} where the corpus has {want!r}; rerun the index stage on this corpus"
        )
    return meta, emb


def read_manifest(path: str | Path) -> ShardManifest:
    """Read a shard part's ``shard.json``."""
    o = read_json(path)
    where = str(path)
    if not isinstance(o, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type(o).__name__}")
    _require(o, ("shard", "fingerprint", "units"), where)
    units = o["units"]
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise FormatError(f"{where}: expected 'units' to be a non-negative integer, got {json.dumps(units)}")
    info = {k: v for k, v in o.items() if k not in ("shard", "fingerprint", "units")}
    return ShardManifest(_id(o, "shard", where), _id(o, "fingerprint", where), units, info)


def write_manifest(path: str | Path, manifest: ShardManifest) -> None:
    write_json(path, manifest.to_json())
