"""A user's corpus as a file of documents: JSONL, CSV, TSV or Parquet, or a Hugging Face dataset.

Each record is one document; :class:`Fields` names its id, title and text fields (``dataset.id_field``,
``dataset.title_field``, ``dataset.text_field``). The id field ``auto`` takes ``_id``, else ``id``, else makes an
id from the record's content (:func:`content_id`), so that ids are stable when rows are added, removed or
reordered. Errors name the file and line (JSONL, CSV, TSV: the record's first line; Parquet and datasets: the
row) and what was expected, e.g. ``docs.csv:1: expected a column 'body' (dataset.text_field); the header has
id, title, text``.
"""

from __future__ import annotations

import csv
import hashlib
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listdistill.data.checks import check_utf8
from listdistill.io import FormatError
from listdistill.records import Doc, check_id, check_text, jsonl_objects

TABLE_SUFFIXES = (".jsonl", ".csv", ".tsv", ".parquet")
AUTO_ID = "auto"
AUTO_ID_FIELDS = ("_id", "id")


@dataclass(frozen=True)
class Fields:
    """The field names of a document record (``dataset.id_field``, ``title_field``, ``text_field``)."""

    id: str = AUTO_ID  # auto: _id, else id, else an id made from the content
    title: str = "title"  # optional: a record without it has no title
    text: str = "text"


def is_table(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TABLE_SUFFIXES


def content_id(title: str, text: str) -> str:
    """A stable id made from a document's content: ``doc-`` and 12 hex digits of SHA-256(title, text)."""
    return "doc-" + hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()[:12]


def load_table(path: Path, fields: Fields) -> list[Doc]:
    """The documents of a JSONL, CSV, TSV or Parquet file, in file order."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows: Iterable[tuple[str, Mapping[str, Any]]] = ((f"{path}:{n}", o) for n, o in jsonl_objects(path))
    elif suffix in (".csv", ".tsv"):
        rows = _delimited(path, fields, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        rows = _parquet(path, fields)
    else:
        raise FormatError(f"{path}: expected a .jsonl, .csv, .tsv or .parquet file of documents")
    return documents(rows, fields, str(path))


def load_hf(name: str, split: str, config: str, fields: Fields, cache_dir: Path) -> list[Doc]:
    """The documents of a Hugging Face dataset: a hub name (online), a local dataset folder, or a folder written
    by ``Dataset.save_to_disk``; ``split`` picks the split (``train`` for most corpora)."""
    import datasets

    where = f"hf:{name}"
    local = Path(name).expanduser()
    if local.is_dir() and any((local / f).is_file() for f in ("state.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise FormatError(f"{where}: expected a split {split!r} (dataset.hf_split); it has {list(loaded)}")
            loaded = loaded[split]
        table = loaded
    else:
        try:
            table = datasets.load_dataset(name, config or None, split=split, cache_dir=str(cache_dir / "hf"))
        except (FileNotFoundError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise FormatError(f"{where}: cannot load split {split!r} ({first})") from e
    columns = list(table.column_names)
    _check_columns(columns, fields, f"{where} (split {split})", "column")
    rows = ((f"{where} row {i + 1}", row) for i, row in enumerate(table))
    return documents(rows, fields, where)


def documents(rows: Iterable[tuple[str, Mapping[str, Any]]], fields: Fields, source: str) -> list[Doc]:
    """Documents from ``(where, record)`` pairs; ids per :class:`Fields` (made ids of equal content get ``~2``,
    ``~3`` ... in order, since the pool records them as duplicates anyway)."""
    docs: list[Doc] = []
    made: dict[str, int] = {}
    id_field: str | None = None
    for where, row in rows:
        if id_field is None:
            id_field = _id_field(row, fields)
        title = _text(row, fields.title, where, required=False)
        text = _text(row, fields.text, where, required=True)
        if id_field:
            doc_id = _value_id(row, id_field, where)
        else:
            doc_id = content_id(title, text)
            made[doc_id] = made.get(doc_id, 0) + 1
            if made[doc_id] > 1:
                doc_id = f"{doc_id}~{made[doc_id]}"
        docs.append(Doc(doc_id, title, text))
    if not docs:
        raise FormatError(f"{source}: expected documents, got none")
    return docs


def _id_field(row: Mapping[str, Any], fields: Fields) -> str:
    """The id field to read ("" = make ids from the content), decided on the first record."""
    if fields.id != AUTO_ID:
        return fields.id
    return next((f for f in AUTO_ID_FIELDS if f in row), "")


def _value_id(row: Mapping[str, Any], key: str, where: str) -> str:
    if key not in row:
        raise FormatError(f"{where}: expected an id field {key!r} (dataset.id_field); the record has {list(row)}")
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise FormatError(f"{where}: expected {key!r} to be a non-empty string or integer, got {value!r}")
    return check_id(normal_id(str(value)), key, where)


def normal_id(value: str) -> str:
    """An id as written to every file: Unicode NFC, each run of whitespace made one ``_`` (TREC files split
    fields at whitespace), no whitespace at either end."""
    return "_".join(unicodedata.normalize("NFC", value).split())


def _text(row: Mapping[str, Any], key: str, where: str, required: bool) -> str:
    if key not in row:
        if required:
            raise FormatError(
                f"{where}: expected a text field {key!r} (dataset.text_field); the record has {list(row)}"
            )
        return ""
    value = row[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where}: expected {key!r} to be text, got {type(value).__name__} {value!r}")
    return check_text(value, key, where)


def _check_columns(columns: list[str], fields: Fields, where: str, what: str) -> None:
    """A table's header must have the text column, and the id column when one is named."""
    needed = [(fields.text, "dataset.text_field")]
    if fields.id != AUTO_ID:
        needed.append((fields.id, "dataset.id_field"))
    for name, key in needed:
        if name not in columns:
            raise FormatError(f"{where}: expected a {what} {name!r} ({key}); the header has {', '.join(columns)}")


def _delimited(path: Path, fields: Fields, delimiter: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    check_utf8(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # documents are longer than csv's 128 KiB default
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        columns = [c for c in (reader.fieldnames or []) if c is not None]
        if not columns:
            raise FormatError(f"{path}:1: expected a header line naming the columns")
        _check_columns(columns, fields, f"{path}:1", "column")
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise FormatError(f"{path}:{start}: expected {len(columns)} fields, got more")
            yield f"{path}:{start}", row
            start = reader.line_num + 1


def _parquet(path: Path, fields: Fields) -> Iterator[tuple[str, Mapping[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise FormatError(f"{path}: expected a Parquet file ({e})") from e
    _check_columns(table.column_names, fields, str(path), "column")
    for i, row in enumerate(table.to_pylist()):
        yield f"{path} row {i + 1}", row
