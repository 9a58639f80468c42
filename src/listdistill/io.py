"""Files written atomically, JSON, and the error every reader raises.

Writers are atomic (temporary file in the same folder, then ``os.replace``), so a killed stage never
leaves a half-written output behind. Readers raise :class:`FormatError` naming the file and line.

The records passed between stages, with one reader and one writer per file kind, are in
:mod:`listdistill.records` (documented in docs/formats.md), which builds on this module.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

Qrels = dict[str, dict[str, int]]  # query_id -> doc_id -> relevance
Run = dict[str, dict[str, float]]  # query_id -> doc_id -> score


class FormatError(ValueError):
    """An input file does not match its documented format."""


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
    """Write JSON with sorted keys and a trailing newline (stable diffs for DVC metrics). NaN and infinities are
    not JSON: they are an error naming the file, never a metric."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except ValueError as e:
        raise ValueError(f"{path}: cannot write a non-finite number (NaN or infinity) as JSON ({e})") from e
    with atomic_open(path) as f:
        f.write(text + "\n")


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
        raise FormatError(f"{path}:{e.lineno}: expected JSON, got invalid JSON ({e.msg})") from e


def ranked(scores: Mapping[str, float], k: int | None = None) -> list[tuple[str, float]]:
    """Sort ``doc_id -> score`` by score descending, ties by doc_id ascending (pyserini's convention)."""
    items = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return items if k is None else items[:k]
