"""Mining: RRF on a toy example, the round-trip rules, exclusion of test-relevant and duplicate passages,
stats, and the stage on a tiny real index (BM25 + the packaged student)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import write_params
from factories import encoder_config, mine_config
from tiny_corpus import CORPUS, prepared_with_index

from listdistill.io import FormatError, Run
from listdistill.mine.candidates import (
    drop_excluded,
    excluded_docs,
    merge_parts,
    mine,
    mine_units,
    parse_retrievers,
    retrieve,
    write_part,
)
from listdistill.records import Duplicate, GeneratedQuery, read_generated, read_run

Q = GeneratedQuery("g1", "text", "question", "b")


def test_rrf_toy_example_known_order_and_scores():
    runs = {"r1": {"g1": {"a": 3.0, "b": 2.0, "c": 1.0}}, "r2": {"g1": {"b": 9.0, "c": 8.0, "d": 7.0}}}
    result = mine([Q], runs, mine_config(k=10, rrf_k=60, round_trip_depth=1))
    assert result.candidates[0].candidates == ("b", "c", "a", "d")
    assert result.run["g1"] == pytest.approx({"b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 62, "a": 1 / 61, "d": 1 / 63})


def test_round_trip_fused_vs_any():
    # The source "s" is first for r1 but third after fusion with r2 (and k cuts nothing).
    runs = {
        "r1": {"g1": {"s": 3.0, "x": 2.0, "y": 1.0}},
        "r2": {"g1": {"x": 3.0, "y": 2.0, "z": 1.0}},
    }
    q = GeneratedQuery("g1", "t", "question", "s")
    assert mine([q], runs, mine_config(round_trip_depth=2, round_trip_rule="fused")).candidates == []
    kept = mine([q], runs, mine_config(round_trip_depth=2, round_trip_rule="any")).candidates
    assert [c.query_id for c in kept] == ["g1"] and kept[0].candidates[:3] == ("x", "y", "s")
    assert mine([q], runs, mine_config(round_trip_depth=3, round_trip_rule="fused")).candidates != []


def test_stats_count_and_source_recall():
    runs = {"r": {"a": {"s": 2.0, "x": 1.0}, "b": {"x": 2.0, "s": 1.0}, "c": {"x": 1.0}}}
    qs = [GeneratedQuery(i, "t", "question", "s") for i in "abc"]
    stats = mine(qs, runs, mine_config(round_trip_depth=1, recall_cutoffs=(1, 2))).stats
    assert (stats["queries_in"], stats["kept"], stats["dropped"]) == (3, 1, 2)
    assert stats["source_recall_fused"] == {
        "R@1": pytest.approx(1 / 3, abs=1e-6),
        "R@2": pytest.approx(2 / 3, abs=1e-6),
    }
    assert stats["source_recall_r"] == stats["source_recall_fused"]


def test_excluded_docs_judged_duplicates_and_copies_of_judged():
    qrels = {"1": {"j": 1, "n": 0}, "2": {"k": 2}}
    duplicates = [Duplicate("dup", "orig", "exact"), Duplicate("k", "kept_copy", "contained")]
    assert excluded_docs(qrels, duplicates) == {"j", "k", "dup", "kept_copy"}  # not "n" (rel 0), not "orig"


def test_drop_excluded_keeps_the_source_and_refills_to_k():
    run: Run = {"g1": {"s": 5.0, "j": 4.0, "a": 3.0, "b": 2.0, "c": 1.0}}
    out = drop_excluded(run, {"s", "j"}, {"g1": "s"}, k=3)
    assert list(out["g1"]) == ["s", "a", "b"]


class ListRetriever:
    """A retriever over a fixed ranking, recording how deep it was asked to search."""

    def __init__(self, name: str, ranking: list[str]) -> None:
        self.name, self.ranking, self.depths = name, ranking, []

    def search(self, query_ids, texts, k):
        self.depths.append(k)
        return {q: {d: float(len(self.ranking) - i) for i, d in enumerate(self.ranking[:k])} for q in query_ids}


def test_retrieve_searches_deeper_only_when_exclusions_leave_fewer_than_k():
    r = ListRetriever("r", ["j1", "j2", "s", "a", "b", "c"])
    runs = retrieve([r], [GeneratedQuery("g", "t", "question", "s")], k=2, excluded={"j1", "j2", "s"}, n_docs=6)
    assert r.depths == [4]  # 2k deep: j1 j2 s a -> s a, enough
    assert list(runs["r"]["g"]) == ["s", "a"]  # the source is never excluded for its own query
    r = ListRetriever("r", ["j1", "j2", "j3", "s", "a", "b", "c", "d"])
    qs = [GeneratedQuery("g", "t", "question", "s"), GeneratedQuery("h", "t", "question", "a")]
    runs = retrieve([r], qs, k=2, excluded={"j1", "j2", "j3"}, n_docs=8)
    assert r.depths == [4, 5]  # 2k leaves one passage; then k + |excluded| = 5, which always suffices
    assert list(runs["r"]["g"]) == ["s", "a"] and list(runs["r"]["h"]) == ["s", "a"]


def test_retrieve_does_not_search_deeper_when_the_retriever_ran_out():
    r = ListRetriever("r", ["j1", "a"])  # like BM25 when only two passages share a term with the query
    excluded = {"j1", "x1", "x2", "x3"}  # k + |excluded| = 6 would allow a deeper search
    runs = retrieve([r], [GeneratedQuery("g", "t", "question", "a")], k=2, excluded=excluded, n_docs=100)
    assert r.depths == [4] and list(runs["r"]["g"]) == ["a"]


def test_parts_written_by_shards_merge_into_the_whole_result(tmp_path):
    r = ListRetriever("r", ["s", "a", "b", "c"])
    qs = [GeneratedQuery(f"g{i}", "t", "question", src) for i, src in enumerate(["s", "a", "c", "x"])]
    cfg = mine_config(k=3, round_trip_depth=2)
    units = [range(0, 2), range(2, 4)]
    whole = mine_units([r], qs, cfg, set(), 4, units)
    for i, unit in enumerate(units):
        write_part(tmp_path / f"{i}.jsonl", qs[unit.start : unit.stop], mine_units([r], qs, cfg, set(), 4, [unit]))
    merged = merge_parts([tmp_path / "0.jsonl", tmp_path / "1.jsonl"], qs, ["fused", "r"], cfg)
    assert merged == whole and [c.query_id for c in merged.candidates] == ["g0", "g1"]


def test_parse_retrievers():
    assert parse_retrievers("bm25+dense+dense:BAAI/bge-small-en-v1.5") == [
        "bm25",
        "dense",
        "dense:BAAI/bge-small-en-v1.5",
    ]
    for bad, msg in [("", "no retrievers"), ("bm25+splade", "unknown retriever"), ("bm25+bm25", "repeated")]:
        with pytest.raises(ValueError, match=msg):
            parse_retrievers(bad)


def test_mine_config_rejects_bad_values():
    with pytest.raises(ValueError, match="round_trip_rule"):
        mine_config(round_trip_rule="best")
    with pytest.raises(ValueError, match=">= 1"):
        mine_config(k=0)


def test_read_generated_errors(tmp_path):
    good = {"query_id": "q1", "text": "t", "query_type": "question", "source_doc_id": "1"}
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(FormatError, match=r"g\.jsonl:2: expected a unique query_id, 'q1' repeats .*g\.jsonl:1"):
        read_generated(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "source_doc_id"}) + "\n")
    with pytest.raises(FormatError, match=r"g\.jsonl:1: missing key\(s\) \['source_doc_id'\]"):
        read_generated(path)


# the stage on a tiny real corpus -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_prepared(tmp_path_factory):
    """prepare-style folder (corpus, qrels, duplicates) and the index stage's outputs on a tiny corpus."""
    return prepared_with_index(tmp_path_factory.mktemp("tiny"))


def write_generated(path, rows):
    with path.open("w") as f:
        for qid, text, source in rows:
            f.write(json.dumps({"query_id": qid, "text": text, "query_type": "question", "source_doc_id": source}))
            f.write("\n")


def test_mine_stage_end_to_end(tiny_prepared, tmp_path):
    from stages import mine as mine_stage

    prepared, index_dir = tiny_prepared
    queries = tmp_path / "question.jsonl"
    write_generated(
        queries,
        [
            ("g1", "why do shock waves form in a supersonic nozzle", "1"),
            ("g2", "interest rates and inflation", "3"),
            ("g3", "photosynthesis in leaves", "4"),  # does not retrieve its source: dropped at depth 1
        ],
    )
    out, stats = tmp_path / "mined", tmp_path / "mine.json"
    params = write_params(tmp_path, {"mine.k": 5, "mine.round_trip_depth": 1})
    args = ["--params", str(params), "--queries", str(queries), "--prepared", str(prepared), "--index",
            str(index_dir), "--out", str(out), "--stats", str(stats)]  # fmt: skip
    r = CliRunner().invoke(mine_stage.main, args)
    assert r.exit_code == 0, r.output
    cands = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert [c["query_id"] for c in cands] == ["g1", "g2"]
    for c in cands:
        assert c["candidates"][0] == c["source_doc_id"] and len(c["candidates"]) == 5
        assert not {"6", "7"} & set(c["candidates"])  # judged relevant, and its duplicate
        assert set(c) == {"query_id", "text", "query_type", "source_doc_id", "candidates"}
    run = read_run(out / "run.trec")
    assert set(run) == {"g1", "g2"} and list(run["g1"]) == cands[0]["candidates"]
    s = json.loads(stats.read_text())
    assert (s["queries_in"], s["kept"], s["dropped"], s["excluded_passages"]) == (3, 2, 1, 2)
    assert s["source_recall_fused"]["R@1"] == pytest.approx(2 / 3, abs=1e-6)


def test_mine_stage_bad_inputs(tiny_prepared, tmp_path):
    from stages import mine as mine_stage

    prepared, index_dir = tiny_prepared
    queries = tmp_path / "q.jsonl"
    write_generated(queries, [("g1", "nozzle", "99")])
    params = write_params(tmp_path)
    base = ["--queries", str(queries), "--prepared", str(prepared), "--index", str(index_dir), "--out",
            str(tmp_path / "o"), "--stats", str(tmp_path / "s.json"), "--params", str(params)]  # fmt: skip
    r = CliRunner().invoke(mine_stage.main, base)
    assert r.exit_code == 1 and "expected 'source_doc_id' to be a doc id of the corpus, got '99'" in r.output
    # bad params are reported before any input is read (the queries' unknown source is not reached)
    r = CliRunner().invoke(mine_stage.main, [*base, "--set", "mine.retrievers=bm25+splade"])
    assert r.exit_code == 1 and "mine.retrievers:" in r.output and "unknown retriever 'splade'" in r.output
    assert "source_doc_id" not in r.output
    r = CliRunner().invoke(mine_stage.main, [*base, "--set", "mine.round_trip_rule=best"])
    assert r.exit_code == 1 and "mine.round_trip_rule: expected one of fused, any, got 'best'" in r.output
    r = CliRunner().invoke(mine_stage.main, [*base, "--set", "mine.k=5"])  # round_trip_depth stays 20
    assert r.exit_code == 1 and "mine.round_trip_depth (20) must be <= mine.k (5)" in r.output
    r = CliRunner().invoke(mine_stage.main, [*base[:1], str(tmp_path / "missing.jsonl"), *base[2:]])
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "s.json").exists()


def test_extra_dense_model_corpus_embeddings_are_cached(tmp_path):
    import numpy as np
    from tiny_bert import make_tiny_bert

    from listdistill.mine.candidates import cached_corpus_embeddings
    from listdistill.records import Doc

    docs = [Doc(i, t, x) for i, t, x in CORPUS]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(vars(d)) for d in docs))
    cfg = encoder_config(model=str(make_tiny_bert(tmp_path / "bert")), batch_size=4)
    first = cached_corpus_embeddings(cfg, docs, corpus, tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("corpus_emb-*.npy")
    assert first.shape == (len(docs), 32)
    np.save(cached, np.zeros_like(first))  # a second call reads the cache instead of encoding again
    assert not cached_corpus_embeddings(cfg, docs, corpus, tmp_path / "cache").any()
    corpus.write_text(corpus.read_text() + "\n")  # another corpus content: another key
    assert cached_corpus_embeddings(cfg, docs, corpus, tmp_path / "cache").any()


def test_no_queries_give_empty_candidates_and_zero_stats():
    result = mine([], {"r": {}}, mine_config())
    assert result.candidates == [] and result.run == {}
    assert result.stats["queries_in"] == 0 and result.stats["source_recall_fused"]["R@1"] == 0.0
