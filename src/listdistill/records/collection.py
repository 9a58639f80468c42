"""The collection's files: passages (``corpus.jsonl``, ``pool.jsonl``), queries, duplicates, and what prepare
made (``collection.json``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from listdistill.io import FormatError, read_json, write_json
from listdistill.records.jsonl import _id, _require, _text, numbered_jsonl, write_jsonl
from listdistill.records.rules import UniqueIds, check_known

# ---------------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Doc:
    """A passage of the corpus (or of the generation pool)."""

    doc_id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and body joined, as indexed and encoded."""
        return f"{self.title}\n{self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Query:
    """A test query (or a training query of the real-query arm)."""

    query_id: str
    text: str


@dataclass(frozen=True)
class Duplicate:
    """A passage that prepare found to duplicate (``exact``) or be contained in (``contained``) another."""

    doc_id: str
    duplicate_of: str
    reason: str


# ------------------------------------------------------------------------------------- passages and queries


def read_docs(path: str | Path, blank_text: bool = True) -> list[Doc]:
    """Read ``corpus.jsonl`` or ``pool.jsonl``: unique ``doc_id`` ids, ``text`` strings (not blank unless
    ``blank_text``: the pool's passages all have text), ``title`` optional."""
    docs: list[Doc] = []
    ids = UniqueIds("doc_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("doc_id", "text"), where)
        doc_id = _id(o, "doc_id", where)
        title = "" if o.get("title") is None else _text(o, "title", where, empty=True)
        ids.add(doc_id, where)
        docs.append(Doc(doc_id, title, _text(o, "text", where, empty=blank_text)))
    return docs


def write_docs(path: str | Path, docs: Iterable[Doc]) -> int:
    return write_jsonl(path, docs)


def read_queries(path: str | Path) -> list[Query]:
    """Read ``queries.jsonl`` or ``real_queries.jsonl``: unique ``query_id`` ids, ``text`` not blank."""
    queries: list[Query] = []
    ids = UniqueIds("query_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("query_id", "text"), where)
        qid = _id(o, "query_id", where)
        ids.add(qid, where)
        queries.append(Query(qid, _text(o, "text", where)))
    return queries


def write_queries(path: str | Path, queries: Iterable[Query]) -> int:
    return write_jsonl(path, queries)


DUPLICATE_REASONS = ("exact", "contained")


def read_duplicates(path: str | Path, doc_ids: Collection[str] | None = None) -> list[Duplicate]:
    """Read prepare's ``duplicates.jsonl`` (each passage listed once, ``reason`` one of :data:`DUPLICATE_REASONS`;
    with ``doc_ids``, both passages in the corpus)."""
    out: list[Duplicate] = []
    ids = UniqueIds("doc_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("doc_id", "duplicate_of", "reason"), where)
        doc_id, kept = _id(o, "doc_id", where), _id(o, "duplicate_of", where)
        ids.add(doc_id, where)
        if o["reason"] not in DUPLICATE_REASONS:
            raise FormatError(
                f"{where}: expected 'reason' to be one of {DUPLICATE_REASONS}, got {json.dumps(o['reason'])}"
            )
        if kept == doc_id:
            raise FormatError(f"{where}: expected 'duplicate_of' to be another passage than {doc_id!r}")
        check_known((doc_id, kept), doc_ids, "doc ids of the corpus", where)
        out.append(Duplicate(doc_id, kept, o["reason"]))
    return out


def write_duplicates(path: str | Path, duplicates: Iterable[Duplicate]) -> int:
    return write_jsonl(path, duplicates)


# -------------------------------------------------------------------------------------- what prepare made


@dataclass(frozen=True)
class CollectionInfo:
    """``data/prepared/collection.json``: what the corpus is and how the pipeline evaluates on it.

    ``evaluation`` is ``judgments`` (the test queries of ``queries.jsonl`` with ``qrels.txt``) or ``label-free``
    (the proxy stage's synthetic queries on the held-out passages, labelled by the teacher); ``hidden_judgments``
    says that the collection's judgments were set aside (``dataset.judgments: hide``) into
    ``hidden_queries.jsonl`` and ``hidden_qrels.txt``. ``chunked``: passages are ``<doc>#<k>`` pieces of
    documents, and judgments name documents (evaluation ranks a document by its best passage, MaxP)."""

    name: str
    documents: int
    passages: int
    chunked: bool
    chunk_tokens: int
    chunk_overlap: int
    evaluation: str  # judgments | label-free | none (no judgments and proxy.heldout 0)
    hidden_judgments: bool


EVALUATIONS = ("judgments", "label-free", "none")


def read_collection_info(path: str | Path) -> CollectionInfo:
    o = read_json(path)
    where = str(path)
    if not isinstance(o, dict):
        raise FormatError(f"{where}: expected a JSON object, got {type(o).__name__}")
    names = [f for f in CollectionInfo.__dataclass_fields__]
    _require(o, names, where)
    if o["evaluation"] not in EVALUATIONS:
        got = json.dumps(o["evaluation"])
        raise FormatError(f"{where}: expected 'evaluation' to be one of {EVALUATIONS}, got {got}")
    for key in ("documents", "passages", "chunk_tokens", "chunk_overlap"):
        if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < 0:
            raise FormatError(f"{where}: expected {key!r} to be a non-negative integer, got {json.dumps(o[key])}")
    for key in ("chunked", "hidden_judgments"):
        if not isinstance(o[key], bool):
            raise FormatError(f"{where}: expected {key!r} to be true or false, got {json.dumps(o[key])}")
    return CollectionInfo(**{k: o[k] for k in names})


def write_collection_info(path: str | Path, info: CollectionInfo) -> None:
    write_json(path, asdict(info))
