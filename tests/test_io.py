from __future__ import annotations

import pytest

from listdistill.io import (
    Doc,
    FormatError,
    Query,
    atomic_open,
    read_docs,
    read_qrels,
    read_run,
    write_jsonl,
    write_qrels,
    write_run,
)


def test_jsonl_round_trip(tmp_path):
    docs = [Doc("1", "A title", "body one"), Doc("2", "", "body two")]
    assert write_jsonl(tmp_path / "c.jsonl", docs) == 2
    assert read_docs(tmp_path / "c.jsonl") == docs
    assert docs[0].contents == "A title\nbody one" and docs[1].contents == "body two"


def test_corpus_line_not_json_names_file_and_line(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text('{"doc_id": "1", "text": "ok"}\n{"doc_id": "2", "text": \n')
    with pytest.raises(FormatError, match=r"corpus\.jsonl: line 2: not valid JSON"):
        read_docs(p)


def test_corpus_line_missing_key(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text('{"doc_id": "1"}\n')
    with pytest.raises(FormatError, match=r"line 1: missing key\(s\) \['text'\]"):
        read_docs(p)


def test_qrels_with_three_fields_fails(tmp_path):
    p = tmp_path / "qrels.txt"
    p.write_text("1 0 d1 1\n1 d2 1\n")
    with pytest.raises(FormatError, match=r"qrels\.txt: line 2: expected 4 fields"):
        read_qrels(p)


def test_qrels_query_missing_from_queries(tmp_path):
    p = tmp_path / "qrels.txt"
    p.write_text("1 0 d1 1\n7 0 d2 1\n")
    with pytest.raises(FormatError, match=r"line 2: query id '7' is not in the queries"):
        read_qrels(p, [Query("1", "q")])


def test_run_written_with_deterministic_ties(tmp_path):
    run = {"10": {"b": 1.0, "a": 1.0, "c": 2.0}, "2": {"x": 0.5}}
    write_run(tmp_path / "r.trec", run, tag="t")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines == [
        "2 Q0 x 1 0.500000 t",
        "10 Q0 c 1 2.000000 t",
        "10 Q0 a 2 1.000000 t",
        "10 Q0 b 3 1.000000 t",
    ]
    assert read_run(tmp_path / "r.trec") == run


def test_qrels_round_trip(tmp_path):
    qrels = {"2": {"d9": 1, "d10": 0}, "1": {"d1": 2}}
    write_qrels(tmp_path / "q.txt", qrels)
    assert read_qrels(tmp_path / "q.txt") == qrels


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
