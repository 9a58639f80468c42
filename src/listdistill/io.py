"""Records and the file formats passed between stages.

Every stage reads and writes through this module, so the formats are written once:

* JSONL with ir_datasets field names: documents ``{"doc_id", "title", "text"}``, queries
  ``{"query_id", "text"}`` (synthetic queries add ``query_type`` and ``source_doc_id``).
* TREC qrels ``qid 0 docid rel`` and TREC runs ``qid Q0 docid rank score tag``.

Writers are atomic (temporary file in the same folder, then ``os.replace``), so a killed stage never
leaves a half-written output behind. Readers raise :class:`FormatError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

Qrels = dict[str, dict[str, int]]  # query_id -> doc_id -> relevance
Run = dict[str, dict[str, float]]  # query_id -> doc_id -> score


class FormatError(ValueError):
    """An input file does not match its documented format."""


@dataclass(frozen=True)
class Doc:
    doc_id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and body joined, as indexed and encoded."""
        return f"{self.title}\n{self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Query:
    query_id: str
    text: str


def _umask() -> int:
    """The process umask: from ``/proc`` on Linux, else by setting it and putting it back (no getter)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()
TSV_LEADING = ("step", "epoch")  # index columns written first by write_tsv


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only on success.

    The file gets the mode plain ``open`` would give it (``0o666 & ~umask``), not ``mkstemp``'s 0600. An
    ``OSError`` without a file name (``write`` on a full disk) is given ``path``, so the message says where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            e.filename = str(path)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON with sorted keys and a trailing newline (stable diffs for DVC metrics)."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_tsv(path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> None:
    """Write rows as a tab-separated table with a header, in a column order that does not depend on dict order.

    The columns are ``fields`` when given (a row key outside them is an error); otherwise the index columns of
    :data:`TSV_LEADING` that occur (``step``, ``epoch``), then every other key of any row, sorted. Dict order is
    not kept by a round trip through ``write_json`` (sorted keys), which is how a resumed training run used to
    write its curves with the columns in another order. A missing value is an empty cell.
    """
    keys = {k for row in rows for k in row}
    if fields is None:
        leading = [k for k in TSV_LEADING if k in keys] or ([] if keys else ["step"])
        columns = leading + sorted(keys - set(leading))
    else:
        columns = list(fields)
        unknown = sorted(keys - set(columns))
        if unknown:
            raise ValueError(f"{path}: column(s) {unknown} are not among the fields {columns}")
    with atomic_open(path) as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter="\t", lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any] | Any]) -> int:
    """Write one JSON object per line (dataclasses are converted); return the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            obj = asdict(rec) if hasattr(rec, "__dataclass_fields__") else rec
            f.write(json.dumps(obj, ensure_ascii=False, sort_keys=False))
            f.write("\n")
            n += 1
    return n


def iter_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Yield JSON objects from a JSONL file, checking that each has the ``required`` keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise FormatError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise FormatError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
            missing = [k for k in required if k not in obj]
            if missing:
                raise FormatError(f"{path}: line {lineno}: missing key(s) {missing}; expected {list(required)}")
            yield obj


def read_docs(path: str | Path) -> list[Doc]:
    return [
        Doc(str(o["doc_id"]), str(o.get("title") or ""), str(o["text"])) for o in iter_jsonl(path, ("doc_id", "text"))
    ]


def read_queries(path: str | Path) -> list[Query]:
    return [Query(str(o["query_id"]), str(o["text"])) for o in iter_jsonl(path, ("query_id", "text"))]


def read_qrels(path: str | Path, queries: Iterable[Query] | None = None) -> Qrels:
    """Read TREC qrels (``qid iter docid rel``, whitespace separated).

    With ``queries`` given, a qrels line naming a query id that is not among them is an error.
    """
    path = Path(path)
    known = {q.query_id for q in queries} if queries is not None else None
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 4:
                raise FormatError(
                    f"{path}: line {lineno}: expected 4 fields 'query_id iteration doc_id relevance', "
                    f"got {len(parts)}: {line.strip()!r}"
                )
            qid, _, did, rel = parts
            try:
                rel_i = int(rel)
            except ValueError as e:
                raise FormatError(f"{path}: line {lineno}: relevance {rel!r} is not an integer") from e
            if known is not None and qid not in known:
                raise FormatError(f"{path}: line {lineno}: query id {qid!r} is not in the queries")
            qrels.setdefault(qid, {})[did] = rel_i
    return qrels


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    with atomic_open(path) as f:
        for qid in sorted(qrels, key=_natural):
            for did in sorted(qrels[qid], key=_natural):
                f.write(f"{qid} 0 {did} {qrels[qid][did]}\n")


def ranked(scores: Mapping[str, float], k: int | None = None) -> list[tuple[str, float]]:
    """Sort ``doc_id -> score`` by score descending, ties by doc_id ascending (pyserini's convention)."""
    items = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return items if k is None else items[:k]


def write_run(path: str | Path, run: Run, tag: str, k: int | None = None) -> None:
    """Write a TREC run with deterministic tie breaking and fixed float precision."""
    with atomic_open(path) as f:
        for qid in sorted(run, key=_natural):
            for rank, (did, score) in enumerate(ranked(run[qid], k), start=1):
                f.write(f"{qid} Q0 {did} {rank} {score:.6f} {tag}\n")


def read_run(path: str | Path) -> Run:
    path = Path(path)
    run: Run = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise FormatError(
                    f"{path}: line {lineno}: expected 6 fields 'qid Q0 docid rank score tag', got {len(parts)}"
                )
            try:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError as e:
                raise FormatError(f"{path}: line {lineno}: score {parts[4]!r} is not a number") from e
    return run


def _natural(key: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the rest in string order."""
    return (0, int(key)) if key.isdigit() else (1, key)
