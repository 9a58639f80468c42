"""JSON lines: the line readers every record reader builds on, the generic writer, field checks, and where a
record is (for error messages)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from listdistill.io import FormatError, atomic_open
from listdistill.records.rules import check_id, check_text

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
    """``obj[key]`` as an id (:func:`check_id`: null, a number or "" is an error, never the id "None")."""
    return check_id(obj.get(key), key, where)


def _text(obj: Mapping[str, Any], key: str, where: str, empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        kind = "a string" if empty else "a non-empty string"
        raise FormatError(f"{where}: expected {key!r} to be {kind}, got {json.dumps(value)}")
    return check_text(value, key, where, empty)


def _number(value: Any, what: str, where: str) -> float:
    try:
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer beyond float's range
        number = math.inf
    if not math.isfinite(number):
        raise FormatError(f"{where}: expected {what} to be a finite number, got {json.dumps(value)}")
    return number


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
