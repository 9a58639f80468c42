"""The synthetic queries' files: generated, dropped, mined (candidates) and scored lists."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from listdistill.io import FormatError
from listdistill.records.jsonl import _id, _number, _require, _text, numbered_jsonl, write_jsonl
from listdistill.records.rules import PRECISION, UniqueIds, check_id, check_known


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


# ---------------------------------------------------------------------------------------- synthetic queries


def _generated(o: Mapping[str, Any], where: str, doc_ids: Collection[str] | None) -> tuple[str, str, str, str]:
    _require(o, ("query_id", "text", "query_type", "source_doc_id"), where)
    source = _id(o, "source_doc_id", where)
    check_known((source,), doc_ids, "'source_doc_id' to be a doc id of the corpus", where)
    return _id(o, "query_id", where), _text(o, "text", where), _id(o, "query_type", where), source


def read_generated(path: str | Path, doc_ids: Collection[str] | None = None) -> list[GeneratedQuery]:
    """Read ``generated/<type>.jsonl``: unique query ids, non-blank text, a source passage id (with ``doc_ids``,
    one of the corpus)."""
    out: list[GeneratedQuery] = []
    ids = UniqueIds("query_id")
    for where, o in numbered_jsonl(path):
        q = GeneratedQuery(*_generated(o, where, doc_ids))
        ids.add(q.query_id, where)
        out.append(q)
    return out


def write_generated(path: str | Path, queries: Iterable[GeneratedQuery]) -> int:
    return write_jsonl(path, queries)


def read_dropped(path: str | Path) -> list[DroppedQuery]:
    """Read ``generated/dropped/<type>.jsonl``: the drop reason in ``status``; ``text`` and ``raw`` may be empty."""
    out: list[DroppedQuery] = []
    ids = UniqueIds("query_id")
    for where, o in numbered_jsonl(path):
        _require(o, ("query_id", "source_doc_id", "status", "text", "raw"), where)
        qid = _id(o, "query_id", where)
        ids.add(qid, where)
        source, status = _id(o, "source_doc_id", where), _id(o, "status", where)
        out.append(DroppedQuery(qid, source, status, _text(o, "text", where, True), _text(o, "raw", where, True)))
    return out


def write_dropped(path: str | Path, dropped: Iterable[DroppedQuery]) -> int:
    return write_jsonl(path, dropped)


def _candidate_ids(cands: Sequence[str], where: str, doc_ids: Collection[str] | None) -> tuple[str, ...]:
    """A list's doc ids: each an id, each once, (with ``doc_ids``) each in the corpus."""
    for i, did in enumerate(cands):
        check_id(did, f"candidates[{i}]", where)
    if len(set(cands)) != len(cands):
        twice = next(d for i, d in enumerate(cands) if d in cands[:i])
        raise FormatError(f"{where}: expected each candidate once, {twice!r} is listed {cands.count(twice)} times")
    check_known(cands, doc_ids, "candidate doc ids of the corpus", where)
    return tuple(cands)


def read_candidates(path: str | Path, doc_ids: Collection[str] | None = None) -> list[MinedQuery]:
    """Read mine's ``candidates.jsonl``: a generated record plus a non-empty list of distinct doc ids (with
    ``doc_ids``, the source and every candidate in the corpus)."""
    out: list[MinedQuery] = []
    ids = UniqueIds("query_id")
    for where, o in numbered_jsonl(path):
        fields = _generated(o, where, doc_ids)
        ids.add(fields[0], where)
        _require(o, ("candidates",), where)
        cands = o["candidates"]
        if not isinstance(cands, list) or not cands or not all(isinstance(c, str) and c for c in cands):
            raise FormatError(f"{where}: expected 'candidates' to be a non-empty list of doc id strings")
        out.append(MinedQuery(*fields, candidates=_candidate_ids(cands, where, doc_ids)))
    return out


def write_candidates(path: str | Path, mined: Iterable[MinedQuery]) -> int:
    return write_jsonl(path, mined)


def read_scored(
    path: str | Path, doc_ids: Collection[str] | None = None, query_type: str | None = None
) -> list[ScoredQuery]:
    """Read a scored list file (``scored/<type>/{train,dev}.jsonl``): a generated record plus a non-empty list
    of ``{"doc_id", "teacher_score" in [0, 1], "raw_score"}`` with distinct doc ids (with ``doc_ids``, the source
    and every candidate in the corpus; with ``query_type``, every record of that type: the file's folder)."""
    out: list[ScoredQuery] = []
    ids = UniqueIds("query_id")
    for where, o in numbered_jsonl(path):
        fields = _generated(o, where, doc_ids)
        ids.add(fields[0], where)
        if query_type is not None and fields[2] != query_type:
            raise FormatError(f"{where}: expected 'query_type' {query_type!r} (the folder's type), got {fields[2]!r}")
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
        _candidate_ids([c.doc_id for c in cands], where, doc_ids)
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
