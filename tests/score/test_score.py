"""Scoring: lists forced to hold the source, the consistency and top-score filters, percentile normalisation,
the split's disjointness, the output schema, and the stage's bad inputs."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_params
from factories import score_config

from listdistill.io import FormatError
from listdistill.records import MinedQuery, read_candidates, write_scored
from listdistill.score.lists import (
    in_dev,
    percentile_normalise,
    score_queries,
    source_is_top,
    teacher_lists,
)
from listdistill.teachers import Teacher


class ByRank(Teacher):
    """Scores each list by a per-query table, doc -> score (a trivial real teacher)."""

    def __init__(self, table):
        self.table = table

    def score(self, lists, docs):
        return [np.array([self.table[c.query_id][d] for d in c.doc_ids], dtype=np.float64) for c in lists]


def mq(qid: str, source: str, cands: str) -> MinedQuery:
    return MinedQuery(qid, f"text {qid}", "question", source, tuple(cands))


def test_teacher_lists_cut_to_depth_and_force_the_source_in():
    lists = teacher_lists([mq("a", "x", "pqrx"), mq("b", "q", "pqrs")], depth=3)
    assert lists[0].doc_ids == ("p", "q", "x")  # source replaced the last of the first three
    assert lists[1].doc_ids == ("p", "q", "r")


def test_percentile_normalise_maps_p1_p99_to_0_1_and_clips():
    scores = [np.arange(0, 51, dtype=float), np.arange(51, 101, dtype=float)]  # 0..100 pooled
    norm = percentile_normalise(scores, 1, 99)
    pooled = np.concatenate(norm)
    np.testing.assert_allclose(pooled[[1, 50, 99]], [0.0, 49 / 98, 1.0])
    assert pooled[0] == 0.0 and pooled[100] == 1.0  # clipped below p1 and above p99
    assert [len(n) for n in norm] == [51, 50]
    assert percentile_normalise([np.array([2.0, 2.0])], 1, 99)[0].tolist() == [0.5, 0.5]  # no spread


def test_source_is_top_requires_strictly_highest():
    assert source_is_top(["a", "b"], np.array([2.0, 1.0]), "a")
    assert not source_is_top(["a", "b"], np.array([2.0, 2.0]), "a")  # a tie is not a win
    assert not source_is_top(["a", "b"], np.array([1.0, 2.0]), "a")


def test_split_is_disjoint_deterministic_and_near_the_fraction():
    ids = [f"question-{i}" for i in range(2000)]
    dev = {q for q in ids if in_dev(q, 0.1, seed=42)}
    assert 150 < len(dev) < 250
    assert dev == {q for q in ids if in_dev(q, 0.1, seed=42)}  # deterministic
    assert dev != {q for q in ids if in_dev(q, 0.1, seed=7)}  # seeded
    assert not any(in_dev(q, 0.0, 42) for q in ids)


def test_consistency_and_top_score_filters_then_split():
    mined = [mq(f"q{i}", "s", ["s", "x", "y"]) for i in range(8)]
    table = {f"q{i}": {"s": float(i), "x": 3.5, "y": 0.0} for i in range(8)}
    # q0..q3: the source is not first (inconsistent); tops are [3.5]*4 + [4, 5, 6, 7]: the 25th percentile is 3.5
    cfg = score_config(depth=3, min_top_percentile=25, dev_fraction=0.5, seed=1)
    res = score_queries(mined, ByRank(table), {}, cfg)
    kept = {r.query_id for r in res.train + res.dev}
    assert kept == {"q4", "q5", "q6", "q7"}
    assert res.stats["inconsistent"] == 4 and res.stats["below_top_percentile"] == 0
    assert not {r.query_id for r in res.train} & {r.query_id for r in res.dev}
    assert {r.query_id for r in res.dev} == {q for q in kept if in_dev(q, 0.5, 1)}
    # without the consistency filter only the percentile decides (no top is below 3.5)
    res = score_queries(mined, ByRank(table), {}, score_config(depth=3, consistency=False))
    assert len(res.train + res.dev) == 8
    # a higher percentile drops the low tops
    res = score_queries(mined, ByRank(table), {}, score_config(depth=3, consistency=False, min_top_percentile=75))
    assert {r.query_id for r in res.train + res.dev} == {"q6", "q7"}  # 75th pct of tops is 5.25


def test_records_schema_order_and_rounding(tmp_path):
    mined = [mq("a", "s", ["x", "s"]), mq("b", "s", ["s", "x"])]
    table = {"a": {"x": 0.1234567891, "s": 2.0}, "b": {"s": 1.0, "x": -1.0}}
    res = score_queries(mined, ByRank(table), {}, score_config(depth=2, min_top_percentile=0, dev_fraction=0))
    a = res.train[0]
    assert list(asdict(a)) == ["query_id", "text", "query_type", "source_doc_id", "candidates"]
    assert [c.doc_id for c in a.candidates] == ["x", "s"]  # candidate (mined) order, not teacher order
    assert a.candidates[0].raw_score == 0.1234567891  # full precision in memory; the writer rounds
    assert all(0.0 <= c.teacher_score <= 1.0 for r in res.train for c in r.candidates)
    assert res.stats["pairs_scored"] == 4 and res.stats["teacher_source_mrr"] == 1.0
    write_scored(tmp_path / "train.jsonl", res.train)  # the one place scores are rounded: 6 decimals
    written = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    assert written["candidates"][0]["raw_score"] == 0.123457


def test_score_config_rejects_bad_values():
    for kw, msg in [({"depth": 1}, "depth"), ({"norm_low": 99, "norm_high": 1}, "norm_low"),
                    ({"dev_fraction": 1.0}, "dev_fraction"), ({"min_top_percentile": 101}, "percentile")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            score_config(**kw)


def test_read_candidates_errors(tmp_path):
    path = tmp_path / "c.jsonl"
    rec = {"query_id": "q", "text": "t", "query_type": "question", "source_doc_id": "1", "candidates": []}
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(FormatError, match=r"c\.jsonl:1: expected 'candidates' to be a non-empty list"):
        read_candidates(path)
    path.write_text(json.dumps({k: v for k, v in rec.items() if k != "candidates"}) + "\n")
    with pytest.raises(FormatError, match="missing key"):
        read_candidates(path)


# the stage ------------------------------------------------------------------------------------------------------
DOCS = {
    "1": "shock waves form in a supersonic nozzle when the back pressure rises",
    "2": "photosynthesis converts sunlight into chemical energy in leaves",
    "3": "the central bank raised interest rates to curb inflation",
    "4": "laminar boundary layer heat transfer on a flat plate at high mach number",
}


@pytest.fixture()
def stage_inputs(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"doc_id": d, "title": "", "text": t}) for d, t in DOCS.items()))
    cands = tmp_path / "candidates.jsonl"
    rows = [("g1", "shock wave nozzle", "1", ["1", "4", "2", "3"]), ("g2", "interest rate", "3", ["3", "1", "2"]),
            ("g3", "heat transfer in a boundary layer", "4", ["4", "1", "2", "3"])]  # fmt: skip
    cands.write_text(
        "\n".join(
            json.dumps({"query_id": q, "text": t, "query_type": "question", "source_doc_id": s, "candidates": c})
            for q, t, s, c in rows
        )
    )
    return corpus, cands


def test_score_stage_with_a_tiny_cross_encoder(stage_inputs, tmp_path):
    from tiny_teachers import make_cross_encoder

    from stages import score

    corpus, cands = stage_inputs
    model = make_cross_encoder(tmp_path / "ce")
    # train.list_length <= score.depth is checked in every stage (train reads score's lists)
    params = write_params(tmp_path, {"teacher.kind": "cross_encoder", "teacher.model": str(model), "score.depth": 3,
                                     "score.consistency": False, "score.min_top_percentile": 0,
                                     "score.dev_fraction": 0.5, "train.list_length": 3})  # fmt: skip
    inputs = ["--params", str(params), "--candidates", str(cands), "--corpus", str(corpus)]
    out, stats = tmp_path / "scored", tmp_path / "score.json"
    r = CliRunner().invoke(score.main, [*inputs, "--out", str(out), "--stats", str(stats)])
    assert r.exit_code == 0, r.output
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    dev = [json.loads(x) for x in (out / "dev.jsonl").read_text().splitlines()]
    assert sorted(r["query_id"] for r in train + dev) == ["g1", "g2", "g3"]
    assert all(
        len(r["candidates"]) == 3 and r["source_doc_id"] in {c["doc_id"] for c in r["candidates"]} for r in train
    )
    s = json.loads(stats.read_text())
    assert s["pairs_scored"] == 9 and s["kept"] == 3 and s["teacher"] == "cross_encoder"
    again = tmp_path / "again"
    r = CliRunner().invoke(score.main, [*inputs, "--out", str(again), "--stats", str(tmp_path / "s2.json")])
    assert r.exit_code == 0, r.output
    assert (again / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()  # deterministic


def test_score_stage_bad_inputs(stage_inputs, tmp_path):
    from stages import score

    corpus, cands = stage_inputs
    params = write_params(tmp_path)
    base = ["--params", str(params), "--candidates", str(cands), "--corpus", str(corpus), "--out",
            str(tmp_path / "o"), "--stats", str(tmp_path / "s.json")]  # fmt: skip
    r = CliRunner().invoke(score.main, [*base, "--set", "teacher.kind=gpt"])
    assert r.exit_code == 1 and "teacher.kind: unknown teacher kind 'gpt'" in r.output
    r = CliRunner().invoke(score.main, [*base, "--set", "teacher.ensemble=0.5*bm25+0.5*colbert"])
    assert r.exit_code == 1 and "teacher.ensemble: ensemble term '0.5*colbert': unknown kind 'colbert'" in r.output
    r = CliRunner().invoke(score.main, [*base, "--set", "teacher.kind=cross_encoder"])
    assert r.exit_code == 1 and "needs a model" in r.output
    r = CliRunner().invoke(score.main, [*base, "--set", "teacher.kind=bm25"])
    assert r.exit_code == 1 and "Lucene index" in r.output
    r = CliRunner().invoke(score.main, [*base, "--set", "score.depth=1"])
    assert r.exit_code == 1 and "score.depth: expected an integer >= 2, got 1" in r.output
    r = CliRunner().invoke(score.main, [*base, "--set", "score.norm_low=99", "--set", "score.norm_high=1"])
    assert r.exit_code == 1 and "score: norm_low (99) must be below norm_high (1)" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(cands.read_text().replace('"4", "1"', '"4", "99"'))
    r = CliRunner().invoke(score.main, [*base[:3], str(bad), *base[4:], "--set", "teacher.kind=dense"])
    assert r.exit_code == 1 and "expected candidate doc ids of the corpus, got '99'" in r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "s.json").exists()


def test_no_queries_give_empty_outputs_and_zero_stats():
    res = score_queries([], ByRank({}), {}, score_config())
    assert res.train == [] and res.dev == []
    assert res.stats["queries_in"] == 0 and res.stats["kept"] == 0 and res.stats["pairs_scored"] == 0
