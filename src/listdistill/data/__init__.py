"""One loader interface for every supported collection.

``load_collection(spec)`` (a :class:`DatasetSpec`) returns a :class:`Collection` whose records use ir_datasets field
names. ``name`` is ``cranfield``, ``vaswani``, ``beir/<name>`` (a BEIR dataset by name, online), the path of a
local BEIR-format folder, or a corpus alone (:mod:`listdistill.data.documents`, :mod:`listdistill.data.folder`):
a BEIR folder with only ``corpus.jsonl`` (no ``qrels/`` folder), a JSONL, CSV, TSV or Parquet file of documents,
a folder of text, Markdown, HTML or PDF files, or ``hf:<dataset>`` (a Hugging Face dataset by name or a local
copy). A corpus alone may come with a few judged queries (``queries`` and ``qrels``,
:mod:`listdistill.data.judgments`); without them the collection has no queries, and the pipeline evaluates
label-free (:mod:`listdistill.evaluate.proxy`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from listdistill.data.beir import beir_qrels, is_beir_folder, load_beir_by_name, load_beir_folder
from listdistill.data.checks import Sources, check_collection
from listdistill.data.documents import Fields, is_table, load_hf, load_table
from listdistill.data.folder import load_folder
from listdistill.data.glasgow import glasgow_files, glasgow_folder, load_glasgow
from listdistill.data.judgments import load_judgments
from listdistill.io import Qrels
from listdistill.records import Doc, Query

MIRROR_ENV = "LISTDISTILL_DATA_MIRROR"
GLASGOW_NAMES = ("cranfield", "vaswani")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a collection comes from. No defaults: ``Params.to_dataset`` builds it from ``dataset``."""

    name: str
    mirror: str | None  # LISTDISTILL_DATA_MIRROR overrides this
    cache_dir: str
    split: str
    cranfield_relevance: str
    drop_empty_queries: bool  # else a judged query with empty text is an error
    drop_unknown_judged_docs: bool  # else a judgment naming a document not in the corpus is an error
    fields: Fields  # id / title / text fields of a file of documents or a Hugging Face dataset
    hf_split: str  # the split of a Hugging Face dataset (hf:<name>)
    hf_config: str  # its configuration, if it has several
    queries: str  # a corpus's judged queries (JSONL or TSV) ...
    qrels: str  # ... and their judgments (TREC or BEIR qrels)


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
    corpus_only = False
    path = Path(spec.name).expanduser()
    if spec.name in GLASGOW_NAMES:
        folder = glasgow_folder(spec.name, resolve_mirror(spec), cache)
        sources = Sources(*(str(p) for p in glasgow_files(spec.name, folder)))
        docs, queries, qrels = load_glasgow(spec.name, resolve_mirror(spec), cache, spec.cranfield_relevance, notes)
    elif spec.name.startswith("beir/"):
        name = spec.name.removeprefix("beir/")
        sources = Sources(f"BeIR/{name} corpus", f"BeIR/{name} queries", f"BeIR/{name}-qrels {spec.split}")
        docs, queries, qrels = load_beir_by_name(name, spec.split, cache)
    elif is_beir_folder(path) and (path / "qrels").is_dir():
        sources = Sources(str(path / "corpus.jsonl"), str(path / "queries.jsonl"), str(beir_qrels(path, spec.split)))
        docs, queries, qrels = load_beir_folder(path, spec.split, notes)
    else:
        corpus_only = True
        docs, source = _load_corpus(spec, path, notes)
        sources = Sources(source, spec.queries or "(no queries)", spec.qrels or "(no judgments)")
        queries, qrels = [], {}
        if spec.queries or spec.qrels:
            if not (spec.queries and spec.qrels):
                raise ValueError("dataset.queries and dataset.qrels: give both files (judged queries), or neither")
            queries, qrels = load_judgments(Path(spec.queries), Path(spec.qrels), notes)
    if not corpus_only and (spec.queries or spec.qrels):
        raise ValueError(f"dataset.queries / dataset.qrels: {spec.name!r} has its own judgments; leave them empty")
    checked = check_collection(
        docs, queries, qrels, sources, spec.drop_empty_queries, spec.drop_unknown_judged_docs, corpus_only
    )
    return Collection(spec.name, checked.docs, checked.queries, checked.qrels, {**notes, **checked.notes})


def _load_corpus(spec: DatasetSpec, path: Path, notes: dict[str, str]) -> tuple[list[Doc], str]:
    """(documents, where they came from) of a corpus given alone."""
    if spec.name.startswith("hf:"):
        name = spec.name.removeprefix("hf:")
        return load_hf(name, spec.hf_split, spec.hf_config, spec.fields, Path(spec.cache_dir)), spec.name
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        if (path / "queries.jsonl").is_file():
            notes["ignored"] = f"{path / 'queries.jsonl'}: queries without a qrels/ folder (no judgments)"
        beir_fields = Fields("_id", "title", "text")
        return load_table(path / "corpus.jsonl", beir_fields), str(path / "corpus.jsonl")
    if path.is_dir():
        docs, folder_notes = load_folder(path)
        notes.update(folder_notes)
        return docs, str(path)
    if is_table(path):
        return load_table(path, spec.fields), str(path)
    raise ValueError(
        f"dataset.name {spec.name!r}: expected one of {list(GLASGOW_NAMES)}, 'beir/<name>', 'hf:<dataset>', a BEIR "
        "folder (corpus.jsonl, and queries.jsonl with qrels/<split>.tsv when judged), a .jsonl, .csv, .tsv or "
        ".parquet file of documents, or a folder of .txt, .md, .html or .pdf files"
    )
