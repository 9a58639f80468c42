from __future__ import annotations

import pytest

from listdistill import io, records
from listdistill.io import FormatError, atomic_open, read_json, write_json


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_json_sorted_keys_and_bad_json_names_file_and_line(tmp_path):
    write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert read_json(tmp_path / "m.json") == {"a": [1, 2], "b": 1}
    (tmp_path / "bad.json").write_text('{"a": 1,\n')
    with pytest.raises(FormatError, match=r"bad\.json:2: expected JSON, got invalid JSON"):
        read_json(tmp_path / "bad.json")


def test_io_holds_only_the_primitives_records_build_on():
    """The record readers and writers live in listdistill.records alone (no re-export here: no import circle)."""
    for name in ("Doc", "Query", "iter_jsonl", "write_jsonl", "read_docs", "read_queries", "read_qrels", "write_qrels",
                 "read_run", "write_run"):  # fmt: skip
        assert not hasattr(io, name) and callable(getattr(records, name))
