"""TREC text files: qrels (and the qrels rules the raw collection loaders share) and runs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from listdistill.io import FormatError, Qrels, Run, atomic_open, ranked
from listdistill.records.collection import Doc, Query
from listdistill.records.jsonl import text_lines
from listdistill.records.rules import PRECISION, check_id, check_known, id_problem, natural_key

# Qrels: one judgment a line; a header line is recognised by its content (its fields name the columns), never by
# its position, and may only come first. A pair judged twice with two grades is an error; with one grade, a note.
QUERY_COLUMNS = frozenset({"query-id", "query_id", "queryid", "qid", "query", "topic", "topic_id"})
DOC_COLUMNS = frozenset({"corpus-id", "corpus_id", "doc-id", "doc_id", "docid", "docno", "doc", "document"})
OTHER_COLUMNS = frozenset({"score", "relevance", "rel", "grade", "label", "judgment", "iteration", "iter", "q0"})


def is_qrels_header(fields: Sequence[str]) -> bool:
    """True when every field is a column name and a query and a doc column are named (``query-id corpus-id
    score``); a judgment (whose ids cannot all be column names and whose grade is a number) never is one."""
    names = [f.strip().lower() for f in fields]
    known = QUERY_COLUMNS | DOC_COLUMNS | OTHER_COLUMNS
    return all(n in known for n in names) and bool(QUERY_COLUMNS & set(names)) and bool(DOC_COLUMNS & set(names))


def qrels_lines(path: str | Path, columns: Sequence[str], sep: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """Yield ``("<file>:<line>", fields)`` for each judgment line of a qrels file with ``columns`` fields separated
    by ``sep`` (None: any whitespace), each field stripped; the header (:func:`is_qrels_header`) is skipped."""
    first = True
    for lineno, line in text_lines(path):
        fields = [f.strip() for f in line.rstrip("\r\n").split(sep)] if sep else line.split()
        where = f"{path}:{lineno}"
        if is_qrels_header(fields):
            if not first:
                raise FormatError(f"{where}: expected a judgment, got a header line after the first line")
            first = False
            continue
        first = False
        if len(fields) != len(columns):
            kind = "tab-separated fields" if sep == "\t" else "fields"
            got = f"{len(fields)}: {' '.join(fields)!r}"
            raise FormatError(f"{where}: expected {len(columns)} {kind} {' '.join(columns)!r}, got {got}")
        yield where, fields


def parse_grade(value: str, what: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FormatError(f"{where}: expected an integer {what}, got {value!r}") from None


class QrelsBuilder:
    """Judgments as they are read: ids checked (:func:`check_id`), a pair judged twice with two grades an error,
    with the same grade counted in ``repeated`` (a note, e.g. in metrics/prepare.json)."""

    def __init__(self) -> None:
        self.qrels: Qrels = {}
        self.repeated = 0
        self._first: dict[tuple[str, str], str] = {}

    def add(self, qid: str, did: str, grade: int, where: str, keys: tuple[str, str] = ("query_id", "doc_id")) -> None:
        check_id(qid, keys[0], where)
        check_id(did, keys[1], where)
        judged = self.qrels.setdefault(qid, {})
        if did in judged:
            if judged[did] != grade:
                first = self._first[(qid, did)]
                raise FormatError(
                    f"{where}: expected one grade per (query, doc) pair, ({qid!r}, {did!r}) is judged {grade} here "
                    f"and {judged[did]} at {first}"
                )
            self.repeated += 1
            return
        judged[did] = grade
        self._first[(qid, did)] = where


def relevant_counts(qrels: Qrels, query_ids: Iterable[str] | None = None) -> dict[str, int]:
    """The number of relevant (grade > 0) judgments of each query (of ``query_ids``, in their order, 0 when
    unjudged; else of the judged queries in natural id order)."""
    ids = list(query_ids) if query_ids is not None else sorted(qrels, key=natural_key)
    return {q: sum(1 for g in qrels.get(q, {}).values() if g > 0) for q in ids}


def check_relevant(qrels: Qrels, where: str) -> None:
    """At least one relevant judgment, else every system scores 0 on every query: :class:`FormatError`."""
    judgments = sum(len(j) for j in qrels.values())
    if not any(g > 0 for j in qrels.values() for g in j.values()):
        raise FormatError(
            f"{where}: expected at least one relevant judgment (grade > 0), got none among {judgments} judgment(s) "
            f"of {len(qrels)} queries; every system would score 0"
        )


# --------------------------------------------------------------------------------------------- TREC files
def _trec_lines(path: str | Path) -> Iterator[tuple[str, list[str]]]:
    """Yield ``("<file>:<line>", fields)`` for each non-blank line of a whitespace-separated text file."""
    for lineno, line in text_lines(path):
        yield f"{path}:{lineno}", line.split()


QRELS_COLUMNS = ("query_id", "iteration", "doc_id", "relevance")


def read_qrels(
    path: str | Path,
    queries: Iterable[Query] | None = None,
    docs: Iterable[Doc] | None = None,
    notes: dict[str, str] | None = None,
) -> Qrels:
    """Read TREC qrels (``query_id iteration doc_id relevance``, whitespace separated, integer relevance; a header
    line is recognised by its content, :func:`is_qrels_header`).

    With ``queries`` (or ``docs``) given, a line naming a query (or passage) that is not among them is an error.
    A (query, passage) pair judged twice with two grades is an error; with the same grade it is counted in
    ``notes["repeated_judgments"]`` when ``notes`` is given.
    """
    known_q = {q.query_id for q in queries} if queries is not None else None
    known_d = {d.doc_id for d in docs} if docs is not None else None
    judgments = QrelsBuilder()
    for where, (qid, _, did, rel) in qrels_lines(path, QRELS_COLUMNS):
        grade = parse_grade(rel, "relevance", where)
        check_known((qid,), known_q, "a query id of the queries", where)
        check_known((did,), known_d, "a doc id of the corpus", where)
        judgments.add(qid, did, grade, where)
    if notes is not None and judgments.repeated:
        notes["repeated_judgments"] = str(judgments.repeated)
    return judgments.qrels


def _checked_line(ids: Iterable[str], path: str | Path) -> None:
    """Writers of line formats: every id must be one the format carries (:func:`id_problem`)."""
    for i in ids:
        if id_problem(i) is not None:
            raise ValueError(f"{path}: cannot write the id {i!r} into a whitespace-separated file ({id_problem(i)})")


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """TREC qrels with iteration 0, queries and passages in natural id order."""
    _checked_line([*qrels, *(d for judged in qrels.values() for d in judged)], path)
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
        check_id(qid, "query_id", where)
        check_id(did, "doc_id", where)
        if not rank.isdigit():
            raise FormatError(f"{where}: expected an integer rank, got {rank!r}")
        try:
            value = float(score)
        except ValueError:
            raise FormatError(f"{where}: expected a number as score, got {score!r}") from None
        if not math.isfinite(value):
            raise FormatError(f"{where}: expected a finite score, got {score!r}")
        listed = run.setdefault(qid, {})
        if did in listed:
            raise FormatError(f"{where}: expected each doc once per query, {did!r} repeats for query {qid!r}")
        listed[did] = value
    return run


def write_run(path: str | Path, run: Run, tag: str, k: int | None = None) -> None:
    """Write a TREC run: queries in natural id order, each by score descending with ties by doc id
    (:func:`~listdistill.io.ranked`), cut to ``k``, scores to 6 decimals."""
    _checked_line([tag, *run, *(d for scores in run.values() for d in scores)], path)
    with atomic_open(path) as f:
        for qid in sorted(run, key=natural_key):
            for rank, (did, score) in enumerate(ranked(run[qid], k), start=1):
                f.write(f"{qid} Q0 {did} {rank} {score:.{PRECISION}f} {tag}\n")
