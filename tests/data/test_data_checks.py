"""Bad raw collections are errors at prepare time, naming the file and line (unless a documented flag allows)."""

from __future__ import annotations

import json

import pytest
from factories import dataset_spec
from test_data_beir import CORPUS, QUERIES, make_beir_folder

from listdistill.data import load_collection
from listdistill.data.glasgow import load_glasgow
from listdistill.errors import user_message
from listdistill.io import FormatError


def load(folder, **flags):
    return load_collection(dataset_spec(str(folder), cache_dir=str(folder.parent / "cache"), **flags))


def jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize(
    ("file", "content", "match"),
    [
        ("corpus.jsonl", "", r"corpus\.jsonl: the corpus has no documents"),
        (
            "corpus.jsonl",
            jsonl([CORPUS[0], {"_id": None, "text": "x"}]),
            r"corpus\.jsonl:2: '_id' must be a non-empty string or integer, got null",
        ),
        ("corpus.jsonl", jsonl([{"_id": " ", "text": "x"}]), r"corpus\.jsonl:1: '_id' must be a non-empty"),
        ("corpus.jsonl", jsonl([{"_id": "d1", "text": None}]), r"corpus\.jsonl:1: 'text' must be a string, got null"),
        ("corpus.jsonl", jsonl([{"_id": "d1"}]), r"corpus\.jsonl:1: missing key 'text'"),
        ("corpus.jsonl", jsonl(CORPUS) + "[1]\n", r"corpus\.jsonl:4: expected a JSON object, got list"),
        ("corpus.jsonl", jsonl(CORPUS) + jsonl(CORPUS[:1]), r"corpus\.jsonl:4: duplicate doc_id 'd1'"),
        ("queries.jsonl", jsonl([{"_id": None, "text": "q"}]), r"queries\.jsonl:1: '_id' must be a non-empty"),
        (
            "queries.jsonl",
            jsonl([QUERIES[0], {"_id": "q2", "text": "  "}]),
            r"queries\.jsonl:2: query 'q2' has empty text \(1 such\); fix the file, or set dataset\.drop_empty_queries",
        ),
        (
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td9\t1\n",
            r"test\.tsv:3: judged document 'd9' \(query 'q2'\) is not in the corpus .*drop_unknown_judged_docs",
        ),
        (
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\t\t1\n",
            r"test\.tsv:2: expected 'corpus-id' to be a non-empty string, got \"\"",
        ),
    ],
)
def test_bad_beir_collections(tmp_path, file, content, match):
    folder = make_beir_folder(tmp_path / "toy")
    (folder / file).write_text(content)
    with pytest.raises(FormatError, match=match):
        load(folder)


@pytest.mark.parametrize("file", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_non_utf8_bytes_named_with_the_line(tmp_path, file):
    folder = make_beir_folder(tmp_path / "toy")
    lines = (folder / file).read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:3] + b"\xe9" + lines[1][3:]  # a Latin-1 e-acute
    (folder / file).write_bytes(b"".join(lines))
    with pytest.raises(FormatError) as info:
        load(folder)
    assert user_message(info.value).startswith(f"{folder / file}:2: expected UTF-8 text, got byte 0xe9 at column 4")


def test_flags_drop_empty_queries_and_unknown_judged_docs(tmp_path):
    folder = make_beir_folder(tmp_path / "toy", ("q1\td1\t1", "q1\td9\t1", "q2\td2\t1"))
    (folder / "queries.jsonl").write_text(jsonl([QUERIES[0], {"_id": "q2", "text": ""}]))
    with pytest.raises(FormatError, match="empty text"):
        load(folder)
    with pytest.raises(FormatError, match="'d9'"):
        load(folder, drop_empty_queries=True)
    col = load(folder, drop_empty_queries=True, drop_unknown_judged_docs=True)
    assert [q.query_id for q in col.queries] == ["q1"]
    assert col.qrels == {"q1": {"d1": 1}}
    assert col.notes == {"dropped_empty_queries": "1", "dropped_unknown_judged_docs": "1"}


def test_glasgow_npl_layout_non_utf8(tmp_path):
    folder = tmp_path / "mirror" / "vaswani"
    folder.mkdir(parents=True)
    (folder / "doc-text").write_bytes(b"1\ncompact memories\n/\n2\nfast r\xe9sistors\n/\n")
    (folder / "query-text").write_text("1\nmemories\n/\n")
    (folder / "rlv-ass").write_text("1\n1\n/\n")
    with pytest.raises(FormatError, match=r"doc-text:5: expected UTF-8 text, got byte 0xe9 at column 7"):
        load_glasgow("vaswani", tmp_path / "mirror", tmp_path / "cache")


# -- issue 21: one qrels rule, ids the line formats carry, degenerate collections ------------------------------------
def test_a_headerless_qrels_file_keeps_its_first_judgment(tmp_path):
    """The header is recognised by its content: a first judgment whose grade is not plainly digits ('+1') used to
    be taken for a header and dropped silently; a grade that is not an integer is an error, not a header."""
    folder = make_beir_folder(tmp_path / "toy")
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t+1\nq2\td2\t2\n")
    assert load(folder).qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1.0\nq2\td2\t2\n")
    with pytest.raises(FormatError, match=r"test\.tsv:1: expected an integer score, got '1\.0'"):
        load(folder)
    (folder / "qrels" / "test.tsv").write_text("Query-ID\tCorpus-ID\tScore\nq1\td1\t1\n")  # any case
    assert load(folder).qrels == {"q1": {"d1": 1}}


def test_a_pair_judged_twice_with_one_grade_is_a_note(tmp_path):
    folder = make_beir_folder(tmp_path / "toy", ("q1\td1\t1", "q2\td2\t2", "q1\td1\t1"))
    col = load(folder)
    assert col.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}} and col.notes == {"repeated_judgments": "1"}


@pytest.mark.parametrize(
    ("file", "content", "match"),
    [
        ("corpus.jsonl", jsonl([*CORPUS, {"_id": "d 4", "text": "x"}]), r"corpus\.jsonl:4: .*space U\+0020 at char"),
        ("corpus.jsonl", jsonl([{"_id": 7, "text": "x"}, {"_id": "7", "text": "y"}]), r"corpus\.jsonl:2: duplicate"),
        ("queries.jsonl", jsonl([*QUERIES, {"_id": "q1", "text": "again"}]), r"queries\.jsonl:4: expected a unique"),
        ("queries.jsonl", jsonl([{"_id": "q1", "text": "\ufeff\u200d"}, QUERIES[1]]), r"queries\.jsonl:1: .*empty"),
        ("qrels/test.tsv", "q1\td1\t0\nq2\td2\t-1\n", r"test\.tsv: expected at least one relevant judgment"),
        ("qrels/test.tsv", "q1\td1\t1\nq1\td1\t2\n", r"test\.tsv:2: expected one grade per \(query, doc\) pair"),
    ],
)
def test_identity_and_degenerate_collections(tmp_path, file, content, match):
    folder = make_beir_folder(tmp_path / "toy")
    (folder / file).write_text(content)
    with pytest.raises(FormatError, match=match):
        load(folder)


def test_prepare_writes_the_relevant_judgments_of_each_test_query(tmp_path):
    from click.testing import CliRunner
    from conftest import write_params

    from stages import prepare

    folder = make_beir_folder(tmp_path / "toy", ("q1\td1\t1", "q1\td3\t0", "q2\td2\t2", "q3\td3\t0"))
    params = write_params(tmp_path, {"dataset.name": str(folder)})
    args = ["--params", str(params), "--out", str(tmp_path / "p"), "--stats", str(tmp_path / "p.json")]
    assert CliRunner().invoke(prepare.main, args).exit_code == 0
    stats = json.loads((tmp_path / "p.json").read_text())
    assert stats["relevant_per_query"] == {"q1": 1, "q2": 1, "q3": 0} and stats["qrels_relevant"] == 2
