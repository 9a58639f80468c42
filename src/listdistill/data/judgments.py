"""A user's few judged queries for a corpus given as a file or folder (``dataset.queries``, ``dataset.qrels``).

* queries: JSONL (``_id`` or ``query_id``, and ``text``) or a tab-separated file ``query-id<TAB>text`` (TREC
  topics as most tools write them; a header line ``query-id<TAB>text`` or ``qid<TAB>query`` is skipped);
* qrels: TREC (``query-id iteration doc-id relevance``, whitespace separated) or BEIR (``query-id<TAB>corpus-id
  <TAB>score`` with an optional header), told apart by the first line's fields.

Only the judged queries are kept, as for a BEIR folder; a judged query missing from the queries file is an error,
and so is a query id given twice (the second text must not silently replace the first). Ids follow the records'
rule (:func:`~listdistill.records.check_id`), qrels the records' qrels rules (a header recognised by its content,
two grades for a pair an error, a repeat counted in ``notes["repeated_judgments"]``). The judgments name documents
(before chunking).
"""

from __future__ import annotations

from pathlib import Path

from listdistill.data.beir import read_beir_qrels
from listdistill.data.checks import record_id, record_text
from listdistill.io import FormatError, Qrels
from listdistill.records import Query, UniqueIds, check_id, check_text, jsonl_objects, read_qrels, text_lines

QUERY_HEADERS = ({"query-id", "text"}, {"qid", "query"}, {"query_id", "text"}, {"_id", "text"})


def read_user_queries(path: Path) -> list[Query]:
    """The queries of a JSONL or tab-separated file, in file order."""
    queries: list[Query] = []
    ids = UniqueIds("query id")
    if path.suffix.lower() == ".jsonl":
        for n, o in jsonl_objects(path):
            key = "_id" if "_id" in o else "query_id"
            queries.append(Query(record_id(o, key, f"{path}:{n}"), record_text(o, "text", f"{path}:{n}")))
            ids.add(queries[-1].query_id, f"{path}:{n}")
        return queries
    for n, line in text_lines(path):
        parts = line.rstrip("\r\n").split("\t")
        if n == 1 and {p.strip().lower() for p in parts} in QUERY_HEADERS:
            continue
        if len(parts) != 2 or not parts[0].strip():
            raise FormatError(f"{path}:{n}: expected 2 tab-separated fields 'query-id<TAB>text', got {len(parts)}")
        qid = check_id(parts[0].strip(), "query-id", f"{path}:{n}")
        queries.append(Query(qid, check_text(parts[1].strip(), "text", f"{path}:{n}")))
        ids.add(qid, f"{path}:{n}")
    return queries


def read_user_qrels(path: Path, notes: dict[str, str] | None = None) -> Qrels:
    """TREC or BEIR qrels, by the fields of the first non-blank line."""
    first = next(text_lines(path), (0, ""))[1]
    if "\t" in first and len(first.rstrip("\r\n").split("\t")) == 3:
        return read_beir_qrels(path, notes)
    return read_qrels(path, notes=notes)


def load_judgments(
    queries_path: Path, qrels_path: Path, notes: dict[str, str] | None = None
) -> tuple[list[Query], Qrels]:
    """(the judged queries, their judgments)."""
    queries = {q.query_id: q for q in read_user_queries(queries_path)}
    qrels = read_user_qrels(qrels_path, notes)
    missing = sorted(q for q in qrels if q not in queries)
    if missing:
        raise FormatError(f"{qrels_path}: query id(s) {missing[:5]} judged here are not in {queries_path}")
    return [queries[q] for q in qrels], qrels
