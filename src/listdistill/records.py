"""The records passed between stages: one typed record per kind, and one reader and one writer per file kind.

docs/formats.md documents every file (its path in the pipeline, each field, an example line). In short:

========================  ======================  ====================================================
file                      record                  reader / writer
========================  ======================  ====================================================
corpus.jsonl, pool.jsonl  :class:`Doc`            :func:`read_docs` / :func:`write_docs`
queries.jsonl             :class:`Query`          :func:`read_queries` / :func:`write_queries`
qrels.txt (TREC)          :data:`Qrels`           :func:`read_qrels` / :func:`write_qrels`
duplicates.jsonl          :class:`Duplicate`      :func:`read_duplicates` / :func:`write_duplicates`
generated/<type>.jsonl    :class:`GeneratedQuery` :func:`read_generated` / :func:`write_generated`
generated/dropped/...     :class:`DroppedQuery`   :func:`read_dropped` / :func:`write_dropped`
candidates.jsonl          :class:`MinedQuery`     :func:`read_candidates` / :func:`write_candidates`
{train,dev}.jsonl         :class:`ScoredQuery`    :func:`read_scored` / :func:`write_scored`
<name>.trec (TREC)        :data:`Run`             :func:`read_run` / :func:`write_run`
corpus_emb.json           :class:`EmbeddingsMeta` :func:`read_embeddings_meta` / :func:`write_embeddings_meta`
shard.json                :class:`ShardManifest`  :func:`read_manifest` / :func:`write_manifest`
========================  ======================  ====================================================

Readers check every line and raise :class:`~listdistill.io.FormatError` as ``<file>:<line>: <what was
expected>``: invalid UTF-8 or JSON, a missing, null or non-string id, empty query text, a repeated id, and for
TREC files the number of fields and the type of each. Writers are atomic (:func:`~listdistill.io.atomic_open`) and
deterministic: records in the order given (qrels and runs in natural query-id order), floats at fixed precision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

from listdistill.io import FormatError, Qrels, Run, atomic_open, ranked, read_json, write_json

PRECISION = 6  # decimals of the teacher and raw scores in scored lists and of the scores in TREC runs


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


@dataclass(frozen=True)
class GeneratedQuery:
    """A synthetic query and the passage it was generated from."""

    query_id: str
    text: str
    query_type: str
    source_doc_id: str


@dataclass(frozen=True)
class DroppedQuery:
    """A generation that was not kept: its cleaned ``text``, the ``raw`` completion and the drop reason."""

    query_id: str
    source_doc_id: str
    status: str  # a drop reason (listdistill.generate.clean.DROP_REASONS)
    text: str
    raw: str


@dataclass(frozen=True)
class MinedQuery(GeneratedQuery):
    """A generated query kept by mine, with its fused candidate list (best first, the source among them)."""

    candidates: tuple[str, ...]


@dataclass(frozen=True)
class ScoredCandidate:
    doc_id: str
    teacher_score: float  # normalised to [0, 1]
    raw_score: float  # the teacher's own score


@dataclass(frozen=True)
class ScoredQuery(GeneratedQuery):
    """A training list: a query, its positive (``source_doc_id``) and its teacher-scored candidates in list order."""

    candidates: tuple[ScoredCandidate, ...]


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


# ------------------------------------------------------------------------------------------------ JSON lines


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for each non-blank line of a text file, decoded strictly as UTF-8.

    Raises FileNotFoundError when there is no file, and :class:`FormatError` naming the file, line and column of
    the first byte that is not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise FormatError(
                    f"{path}:{lineno}: expected UTF-8 text, got byte {raw[e.start]:#04x} at column {e.start + 1}; "
                    "save the file as UTF-8"
                ) from None
            if line.strip():
                yield lineno, line


def jsonl_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file (errors: :func:`text_lines`, and
    :class:`FormatError` naming the line for text that is not JSON and JSON that is not an object)."""
    for lineno, line in text_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path}:{lineno}: expected a JSON object, got invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise FormatError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def numbered_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("<file>:<line>", object)`` for each non-blank line of a JSONL file (errors: :func:`jsonl_objects`)."""
    for lineno, obj in jsonl_objects(path):
        yield f"{path}:{lineno}", obj


def iter_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file, checking that each has the ``required`` keys (see
    :func:`numbered_jsonl` for the errors)."""
    for where, obj in numbered_jsonl(path):
        _require(obj, required, where)
        yield obj


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any] | Any]) -> int:
    """Write one JSON object per line (dataclasses are converted, keys in field order); return the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            obj = asdict(rec) if is_dataclass(rec) and not isinstance(rec, type) else rec
            f.write(json.dumps(obj, ensure_ascii=False, sort_keys=False))
            f.write("\n")
            n += 1
    return n


def _require(obj: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise FormatError(f"{where}: missing key(s) {missing}; expected {list(keys)}")


def _id(obj: Mapping[str, Any], key: str, where: str) -> str:
    """``obj[key]`` as an id: a non-empty string (null, a number or "" is an error, never the id "None")."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"{where}: expected {key!r} to be a non-empty string, got {json.dumps(value)}")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str, empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (not empty and not value.strip()):
        kind = "a string" if empty else "a non-empty string"
        raise FormatError(f"{where}: expected {key!r} to be {kind}, got {json.dumps(value)}")
    return value


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FormatError(f"{where}: expected {what} to be a finite number, got {json.dumps(value)}")
    return float(value)


class _Unique:
    """Remembers where each id was first seen, so that a repeat names both lines."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: dict[str, str] = {}

    def add(self, value: str, where: str) -> None:
        if value in self.seen:
            raise FormatError(f"{where}: expected a unique {self.key}, {value!r} repeats {self.seen[value]}")
        self.seen[value] = where


# ------------------------------------------------------------------------------------- passages and queries


def read_docs(path: str | Path) -> list[Doc]:
    """Read ``corpus.jsonl`` or ``pool.jsonl``: unique ``doc_id`` strings, ``text`` strings, ``title`` optional."""
    docs: list[Doc] = []
    ids = _Unique("doc_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("doc_id", "text"), where)
        doc_id = _id(o, "doc_id", where)
        title = "" if o.get("title") is None else _text(o, "title", where, empty=True)
        ids.add(doc_id, where)
        docs.append(Doc(doc_id, title, _text(o, "text", where, empty=True)))
    return docs


def write_docs(path: str | Path, docs: Iterable[Doc]) -> int:
    return write_jsonl(path, docs)


def read_queries(path: str | Path) -> list[Query]:
    """Read ``queries.jsonl`` or ``real_queries.jsonl``: unique ``query_id`` strings, non-empty ``text``."""
    queries: list[Query] = []
    ids = _Unique("query_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("query_id", "text"), where)
        qid = _id(o, "query_id", where)
        ids.add(qid, where)
        queries.append(Query(qid, _text(o, "text", where)))
    return queries


def write_queries(path: str | Path, queries: Iterable[Query]) -> int:
    return write_jsonl(path, queries)


def read_duplicates(path: str | Path) -> list[Duplicate]:
    """Read prepare's ``duplicates.jsonl`` (each passage listed once)."""
    out: list[Duplicate] = []
    ids = _Unique("doc_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("doc_id", "duplicate_of", "reason"), where)
        doc_id = _id(o, "doc_id", where)
        ids.add(doc_id, where)
        out.append(Duplicate(doc_id, _id(o, "duplicate_of", where), _id(o, "reason", where)))
    return out


def write_duplicates(path: str | Path, duplicates: Iterable[Duplicate]) -> int:
    return write_jsonl(path, duplicates)


# --------------------------------------------------------------------------------------------- TREC files


def _trec_lines(path: str | Path) -> Iterator[tuple[str, list[str]]]:
    """Yield ``("<file>:<line>", fields)`` for each non-blank line of a whitespace-separated text file."""
    for lineno, line in text_lines(path):
        yield f"{path}:{lineno}", line.split()


def read_qrels(path: str | Path, queries: Iterable[Query] | None = None, docs: Iterable[Doc] | None = None) -> Qrels:
    """Read TREC qrels (``query_id iteration doc_id relevance``, whitespace separated, integer relevance).

    With ``queries`` (or ``docs``) given, a line naming a query (or passage) that is not among them is an error.
    A (query, passage) pair judged twice is an error too.
    """
    known_q = {q.query_id for q in queries} if queries is not None else None
    known_d = {d.doc_id for d in docs} if docs is not None else None
    qrels: Qrels = {}
    for where, parts in _trec_lines(path):
        if len(parts) != 4:
            got = f"{len(parts)}: {' '.join(parts)!r}"
            raise FormatError(f"{where}: expected 4 fields 'query_id iteration doc_id relevance', got {got}")
        qid, _, did, rel = parts
        try:
            grade = int(rel)
        except ValueError:
            raise FormatError(f"{where}: expected an integer relevance, got {rel!r}") from None
        if known_q is not None and qid not in known_q:
            raise FormatError(f"{where}: expected a query id of the queries, got {qid!r}")
        if known_d is not None and did not in known_d:
            raise FormatError(f"{where}: expected a doc id of the corpus, got {did!r}")
        judged = qrels.setdefault(qid, {})
        if did in judged:
            raise FormatError(f"{where}: expected each (query, doc) pair once, ({qid!r}, {did!r}) is judged again")
        judged[did] = grade
    return qrels


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """TREC qrels with iteration 0, queries and passages in natural id order."""
    with atomic_open(path) as f:
        for qid in sorted(qrels, key=natural_key):
            for did in sorted(qrels[qid], key=natural_key):
                f.write(f"{qid} 0 {did} {qrels[qid][did]}\n")


def read_run(path: str | Path) -> Run:
    """Read a TREC run (``query_id Q0 doc_id rank score tag``); a passage listed twice for a query is an error."""
    run: Run = {}
    for where, parts in _trec_lines(path):
        if len(parts) != 6:
            raise FormatError(f"{where}: expected 6 fields 'query_id Q0 doc_id rank score tag', got {len(parts)}")
        qid, _, did, rank, score = parts[:5]
        if not rank.isdigit():
            raise FormatError(f"{where}: expected an integer rank, got {rank!r}")
        try:
            value = float(score)
        except ValueError:
            raise FormatError(f"{where}: expected a number as score, got {score!r}") from None
        listed = run.setdefault(qid, {})
        if did in listed:
            raise FormatError(f"{where}: expected each doc once per query, {did!r} repeats for query {qid!r}")
        listed[did] = value
    return run


def write_run(path: str | Path, run: Run, tag: str, k: int | None = None) -> None:
    """Write a TREC run: queries in natural id order, each by score descending with ties by doc id
    (:func:`~listdistill.io.ranked`), cut to ``k``, scores to 6 decimals."""
    with atomic_open(path) as f:
        for qid in sorted(run, key=natural_key):
            for rank, (did, score) in enumerate(ranked(run[qid], k), start=1):
                f.write(f"{qid} Q0 {did} {rank} {score:.{PRECISION}f} {tag}\n")


def natural_key(key: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the rest in string order."""
    return (0, int(key)) if key.isdigit() else (1, key)


# ---------------------------------------------------------------------------------------- synthetic queries


def _generated(o: Mapping[str, Any], where: str) -> tuple[str, str, str, str]:
    _require(o, ("query_id", "text", "query_type", "source_doc_id"), where)
    return (
        _id(o, "query_id", where),
        _text(o, "text", where),
        _id(o, "query_type", where),
        _id(o, "source_doc_id", where),
    )


def read_generated(path: str | Path) -> list[GeneratedQuery]:
    """Read ``generated/<type>.jsonl``: unique query ids, non-empty text, a source passage id."""
    out: list[GeneratedQuery] = []
    ids = _Unique("query_id")
    for where, o in numbered_jsonl(path):
        q = GeneratedQuery(*_generated(o, where))
        ids.add(q.query_id, where)
        out.append(q)
    return out


def write_generated(path: str | Path, queries: Iterable[GeneratedQuery]) -> int:
    return write_jsonl(path, queries)


def read_dropped(path: str | Path) -> list[DroppedQuery]:
    """Read ``generated/dropped/<type>.jsonl``: the drop reason in ``status``; ``text`` and ``raw`` may be empty."""
    out: list[DroppedQuery] = []
    ids = _Unique("query_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("query_id", "source_doc_id", "status", "text", "raw"), where)
        qid = _id(o, "query_id", where)
        ids.add(qid, where)
        source, status = _id(o, "source_doc_id", where), _id(o, "status", where)
        out.append(DroppedQuery(qid, source, status, _text(o, "text", where, True), _text(o, "raw", where, True)))
    return out


def write_dropped(path: str | Path, dropped: Iterable[DroppedQuery]) -> int:
    return write_jsonl(path, dropped)


def read_candidates(path: str | Path) -> list[MinedQuery]:
    """Read mine's ``candidates.jsonl``: a generated record plus a non-empty list of doc id strings."""
    out: list[MinedQuery] = []
    ids = _Unique("query_id")
    for where, o in numbered_jsonl(path):
        fields = _generated(o, where)
        ids.add(fields[0], where)
        _require(o, ("candidates",), where)
        cands = o["candidates"]
        if not isinstance(cands, list) or not cands or not all(isinstance(c, str) and c for c in cands):
            raise FormatError(f"{where}: expected 'candidates' to be a non-empty list of doc id strings")
        out.append(MinedQuery(*fields, candidates=tuple(cands)))
    return out


def write_candidates(path: str | Path, mined: Iterable[MinedQuery]) -> int:
    return write_jsonl(path, mined)


def read_scored(path: str | Path) -> list[ScoredQuery]:
    """Read a scored list file (``scored/<type>/{train,dev}.jsonl``): a generated record plus a non-empty list
    of ``{"doc_id", "teacher_score" in [0, 1], "raw_score"}``."""
    out: list[ScoredQuery] = []
    ids = _Unique("query_id")
    for where, o in numbered_jsonl(path):
        fields = _generated(o, where)
        ids.add(fields[0], where)
        _require(o, ("candidates",), where)
        if not isinstance(o["candidates"], list) or not o["candidates"]:
            raise FormatError(f"{where}: expected 'candidates' to be a non-empty list of objects")
        cands = []
        for i, c in enumerate(o["candidates"]):
            if not isinstance(c, dict):
                raise FormatError(f"{where}: expected candidate {i} to be an object, got {json.dumps(c)}")
            _require(c, ("doc_id", "teacher_score", "raw_score"), f"{where}: candidate {i}")
            did = _id(c, "doc_id", f"{where}: candidate {i}")
            teacher = _number(c["teacher_score"], f"the teacher_score of {did!r}", where)
            if not 0 <= teacher <= 1:
                raise FormatError(f"{where}: expected the teacher_score of {did!r} in [0, 1], got {teacher}")
            cands.append(ScoredCandidate(did, teacher, _number(c["raw_score"], f"the raw_score of {did!r}", where)))
        out.append(ScoredQuery(*fields, candidates=tuple(cands)))
    return out


def write_scored(path: str | Path, scored: Iterable[ScoredQuery]) -> int:
    """Write scored lists, scores rounded to 6 decimals."""

    def record(q: ScoredQuery) -> dict[str, Any]:
        cands = tuple(
            replace(c, teacher_score=round(c.teacher_score, PRECISION), raw_score=round(c.raw_score, PRECISION))
            for c in q.candidates
        )
        return asdict(replace(q, candidates=cands))

    return write_jsonl(path, map(record, scored))


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
    ids = _Unique("doc_id")
    for i, d in enumerate(o["doc_ids"]):
        ids.add(d, f"{where}: doc_ids[{i}]")
    dim = o["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise FormatError(f"{where}: expected 'dim' to be a positive integer, got {json.dumps(dim)}")
    return EmbeddingsMeta(tuple(o["doc_ids"]), dim, _id(o, "model", where), _id(o, "pooling", where))


def write_embeddings_meta(path: str | Path, meta: EmbeddingsMeta) -> None:
    write_json(path, {"doc_ids": list(meta.doc_ids), "dim": meta.dim, "model": meta.model, "pooling": meta.pooling})


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


# -- where a record is, for error messages ------------------------------------------------------------------------
def line_of(path: str, *tokens: str) -> str:
    """``path:line`` of the first line holding all ``tokens`` as fields, or ``path`` when not a local file."""
    p = Path(path)
    if p.is_file():
        with p.open(encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, start=1):
                fields = line.split()
                if all(t in fields for t in tokens):
                    return f"{path}:{lineno}"
    return path


def query_line(path: str, query_id: str, nth: int = 1) -> str:
    """``path:line`` of a record's ``nth`` occurrence (a JSONL ``_id``/``query_id``/``doc_id``, else the first line
    holding the id as a field)."""
    p = Path(path)
    if p.suffix == ".jsonl" and p.is_file():
        seen = 0
        with p.open(encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, start=1):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(obj, dict):
                    continue
                rid = obj.get("_id", obj.get("query_id", obj.get("doc_id")))
                seen += str(rid) == query_id
                if seen == nth:
                    return f"{path}:{lineno}"
        return path
    return line_of(path, query_id)


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
