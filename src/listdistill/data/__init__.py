"""One loader interface for every supported collection.

``load_collection(DatasetSpec(name=...))`` returns a :class:`Collection` whose records use ir_datasets field
names. ``name`` is ``cranfield``, ``vaswani``, ``beir/<name>`` (a BEIR dataset by name, online), or the path
of a local BEIR-format folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from listdistill.data.beir import beir_qrels, is_beir_folder, load_beir_by_name, load_beir_folder
from listdistill.data.checks import Sources, check_collection
from listdistill.data.glasgow import glasgow_files, glasgow_folder, load_glasgow
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
    drop_empty_queries: bool = False  # else a judged query with empty text is an error
    drop_unknown_judged_docs: bool = False  # else a judgment naming a document not in the corpus is an error


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
    """Load and check a collection (:mod:`listdistill.data.checks`); errors name the file and line."""
    cache = Path(spec.cache_dir)
    notes: dict[str, str] = {}
    if spec.name in GLASGOW_NAMES:
        folder = glasgow_folder(spec.name, resolve_mirror(spec), cache)
        sources = Sources(*(str(p) for p in glasgow_files(spec.name, folder)))
        docs, queries, qrels = load_glasgow(spec.name, resolve_mirror(spec), cache, spec.cranfield_relevance, notes)
    elif spec.name.startswith("beir/"):
        name = spec.name.removeprefix("beir/")
        sources = Sources(f"BeIR/{name} corpus", f"BeIR/{name} queries", f"BeIR/{name}-qrels {spec.split}")
        docs, queries, qrels = load_beir_by_name(name, spec.split, cache)
    elif is_beir_folder(Path(spec.name)):
        folder = Path(spec.name)
        sources = Sources(
            str(folder / "corpus.jsonl"), str(folder / "queries.jsonl"), str(beir_qrels(folder, spec.split))
        )
        docs, queries, qrels = load_beir_folder(folder, spec.split, notes)
    else:
        raise ValueError(
            f"dataset.name {spec.name!r}: expected one of {list(GLASGOW_NAMES)}, 'beir/<name>', "
            "or a folder holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
        )
    checked = check_collection(docs, queries, qrels, sources, spec.drop_empty_queries, spec.drop_unknown_judged_docs)
    return Collection(spec.name, checked.docs, checked.queries, checked.qrels, {**notes, **checked.notes})
