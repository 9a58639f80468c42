"""Checks every raw collection passes at prepare time, with errors naming the file and line.

The rules are those of the records between stages (:mod:`listdistill.records`), applied by
:func:`check_collection` to whatever a loader returns, so that every loader inherits them:

* the corpus has at least one document; every document and query id is an id the line formats carry (not null
  or empty, no whitespace, control or format characters: :func:`~listdistill.records.id_problem`) and unique;
* every file is UTF-8 (a stray Latin-1 byte is reported with its line, not as a bare ``UnicodeDecodeError``);
* no judged query has blank text (nothing visible: :func:`~listdistill.records.is_blank`), unless
  ``dataset.drop_empty_queries`` is set (then the query and its judgments are dropped, and the count is noted);
* every judged document is in the corpus, unless ``dataset.drop_unknown_judged_docs`` is set (then those
  judgments are dropped and counted);
* at least one judgment is relevant (grade > 0): otherwise every system scores 0.

Qrels files are read with the records' rules too (:func:`~listdistill.records.qrels_lines`: a header recognised by
its content; :class:`~listdistill.records.QrelsBuilder`: two grades for one pair an error, a repeat a note).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from listdistill.io import FormatError, Qrels
from listdistill.records import (
    Doc,
    Query,
    UniqueIds,
    check_id,
    check_relevant,
    check_text,
    id_problem,
    is_blank,
    line_of,
    query_line,
    text_lines,
)


@dataclass(frozen=True)
class Sources:
    """Where a collection's records came from (a file path, or a hub repo id), for error messages."""

    corpus: str
    queries: str
    qrels: str


@dataclass
class Checked:
    docs: list[Doc]
    queries: list[Query]
    qrels: Qrels
    notes: dict[str, str] = field(default_factory=dict)


def check_utf8(path: Path) -> None:
    """Raise :class:`FormatError` naming the first line of ``path`` that is not valid UTF-8."""
    for _ in text_lines(path):
        pass


def record_id(obj: dict[str, Any], key: str, where: str) -> str:
    """A record's id as a string; null, empty or non-scalar ids are errors (``None`` must not become ``"None"``)."""
    if key not in obj:
        raise FormatError(f"{where}: missing key {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, str | int) or is_blank(str(value)):
        raise FormatError(f"{where}: {key!r} must be a non-empty string or integer, got {json.dumps(value)}")
    return check_id(str(value), key, where)


def record_text(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    if key not in obj:
        if required:
            raise FormatError(f"{where}: missing key {key!r}")
        return ""
    value = obj[key]
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where}: {key!r} must be a string, got {json.dumps(value)}")
    return check_text(value, key, where)


def check_collection(
    docs: list[Doc],
    queries: list[Query],
    qrels: Qrels,
    sources: Sources,
    drop_empty_queries: bool = False,
    drop_unknown_judged_docs: bool = False,
    allow_no_queries: bool = False,
) -> Checked:
    """Apply the module's checks; return the (possibly filtered) records and notes on what was dropped. A corpus
    given without judgments (``allow_no_queries``) may have no queries at all."""
    notes: dict[str, str] = {}
    if not docs:
        raise FormatError(f"{sources.corpus}: the corpus has no documents")
    _check_ids(sources.corpus, "doc_id", [d.doc_id for d in docs])
    _check_ids(sources.queries, "query_id", [q.query_id for q in queries])
    for qid, judged in qrels.items():
        for did in judged:
            if id_problem(qid) is not None or id_problem(did) is not None:
                where = line_of(sources.qrels, qid, did)
                check_id(qid, "query_id", where)
                check_id(did, "doc_id", where)
    empty = [q for q in queries if is_blank(q.text)]
    if empty and not drop_empty_queries:
        q = empty[0]
        raise FormatError(
            f"{query_line(sources.queries, q.query_id)}: query {q.query_id!r} has empty text ({len(empty)} such); "
            "fix the file, or set dataset.drop_empty_queries to drop them and their judgments"
        )
    if empty:
        gone = {q.query_id for q in empty}
        queries = [q for q in queries if q.query_id not in gone]
        qrels = {qid: judged for qid, judged in qrels.items() if qid not in gone}
        notes["dropped_empty_queries"] = str(len(gone))
    known = {d.doc_id for d in docs}
    unknown = [(qid, did) for qid, judged in qrels.items() for did in judged if did not in known]
    if unknown and not drop_unknown_judged_docs:
        qid, did = unknown[0]
        raise FormatError(
            f"{line_of(sources.qrels, did)}: judged document {did!r} (query {qid!r}) is not in the corpus "
            f"{sources.corpus} ({len(unknown)} such judgments); fix the qrels, or set "
            "dataset.drop_unknown_judged_docs to drop them"
        )
    if unknown:
        qrels = {qid: {d: r for d, r in judged.items() if d in known} for qid, judged in qrels.items()}
        qrels = {qid: judged for qid, judged in qrels.items() if judged}
        notes["dropped_unknown_judged_docs"] = str(len(unknown))
    if not queries and not (allow_no_queries and not qrels):
        raise FormatError(f"{sources.queries}: no queries left to evaluate")
    if qrels or not allow_no_queries:
        check_relevant(qrels, sources.qrels)
    return Checked(docs, queries, qrels, notes)


def _check_ids(source: str, key: str, ids: list[str]) -> None:
    """Every id valid (:func:`~listdistill.records.check_id`) and unique, else an error naming its line."""
    seen = UniqueIds(key)
    for n, i in enumerate(ids, start=1):
        if id_problem(i) is not None:
            check_id(i, key, query_line(source, i))
        if i in seen.seen:
            raise FormatError(f"{query_line(source, i, nth=2)}: duplicate {key} {i!r} (ids must be unique)")
        seen.add(i, str(n))
