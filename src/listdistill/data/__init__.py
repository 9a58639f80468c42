"""One loader interface for every supported collection.

``load_collection(DatasetSpec(name=...))`` returns a :class:`Collection` whose records use ir_datasets field
names. ``name`` is ``cranfield``, ``vaswani``, ``beir/<name>`` (a BEIR dataset by name, online), or the path
of a local BEIR-format folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from listdistill.data.beir import is_beir_folder, load_beir_by_name, load_beir_folder
from listdistill.data.glasgow import load_glasgow
from listdistill.io import Doc, Qrels, Query

MIRROR_ENV = "LISTDISTILL_DATA_MIRROR"
GLASGOW_NAMES = ("cranfield", "vaswani")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    mirror: str | None = "../shared/datasets"  # LISTDISTILL_DATA_MIRROR overrides this
    cache_dir: str = ".cache/datasets"
    split: str = "test"
    cranfield_relevance: str = "binary"


@dataclass
class Collection:
    name: str
    docs: list[Doc]
    queries: list[Query]
    qrels: Qrels
    notes: dict[str, str] = field(default_factory=dict)


def resolve_mirror(spec: DatasetSpec) -> Path | None:
    mirror = os.environ.get(MIRROR_ENV) or spec.mirror
    return Path(mirror) if mirror else None


def load_collection(spec: DatasetSpec) -> Collection:
    cache = Path(spec.cache_dir)
    if spec.name in GLASGOW_NAMES:
        docs, queries, qrels = load_glasgow(spec.name, resolve_mirror(spec), cache, spec.cranfield_relevance)
    elif spec.name.startswith("beir/"):
        docs, queries, qrels = load_beir_by_name(spec.name.removeprefix("beir/"), spec.split, cache)
    elif is_beir_folder(Path(spec.name)):
        docs, queries, qrels = load_beir_folder(Path(spec.name), spec.split)
    else:
        raise ValueError(
            f"dataset.name {spec.name!r}: expected one of {list(GLASGOW_NAMES)}, 'beir/<name>', "
            "or a folder holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
        )
    _check_unique(spec.name, "doc_id", [d.doc_id for d in docs])
    _check_unique(spec.name, "query_id", [q.query_id for q in queries])
    return Collection(spec.name, docs, queries, qrels)


def _check_unique(name: str, key: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{name}: duplicate {key} {i!r}")
        seen.add(i)
