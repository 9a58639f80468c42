"""listdistill.evaluate.evaluation: the runs each system gets and what they score, pinned to exact values (inline
runs and judgments in the style of ir_measures' tests; BM25 on five documents through the real Lucene)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listdistill.evaluate.evaluation import score_systems
from listdistill.index import lucene
from listdistill.index.runs import IndexPaths, bm25_run, passages_unchanged
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Doc, Query

DOCS = [
    Doc("d1", "Solar", "photovoltaic cells convert light into electricity"),
    Doc("d2", "", "wind turbines convert kinetic energy into electricity"),
    Doc("d3", "Hydro", "dams store water and release it through turbines"),
    Doc("d4", "", "tidal power comes from the moon"),
    Doc("d5", "Storage", "batteries store electricity for the night"),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> IndexPaths:
    root = tmp_path_factory.mktemp("index")
    lucene.build_index(DOCS, root / "lucene")
    return IndexPaths(root)


def test_bm25_run_on_five_documents(index: IndexPaths):
    """Lucene BM25 (k1 0.9, b 0.4; title + text, English analyzer). On "turbines" (one occurrence in d2 and d3, the
    same idf) the shorter d2 (6 terms after stopwords) scores above d3 (8 terms): only the length norm differs."""
    run = bm25_run(index, [Query("q1", "store electricity"), Query("q2", "turbines")], 5, 0.9, 0.4)
    assert {q: {d: round(s, 4) for d, s in hits.items()} for q, hits in run.items()} == {
        "q1": {"d5": 0.7644, "d3": 0.4434, "d1": 0.2818, "d2": 0.2818},
        "q2": {"d2": 0.4578, "d3": 0.4434},
    }
    assert list(run["q1"]) == ["d5", "d3", "d1", "d2"]  # d4 shares no term: not retrieved


def test_hybrid_run_is_reciprocal_rank_fusion_cut_at_k():
    bm25 = {"q": {"a": 9.0, "b": 5.0, "c": 1.0}}
    dense = {"q": {"c": 0.9, "a": 0.8, "d": 0.1}}
    fused = hybrid_run([bm25, dense], k=3, rrf_k=60)
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    assert list(fused["q"]) == ["a", "c", "b"]  # d (1/63) falls below the cut
    assert fused["q"] == pytest.approx({d: expected[d] for d in ("a", "c", "b")}, abs=1e-12)


def test_hybrid_run_breaks_ties_by_doc_id():
    fused = hybrid_run([{"q": {"b": 2.0, "a": 1.0}}, {"q": {"a": 2.0, "b": 1.0}}], k=2, rrf_k=1)
    assert list(fused["q"]) == ["a", "b"] and fused["q"]["a"] == fused["q"]["b"] == 1 / 2 + 1 / 3


def test_score_systems_writes_exact_runs_and_per_query_measures(tmp_path: Path):
    qrels = {"1": {"d5": 1}, "2": {"d3": 1, "d4": 0}}
    runs = {"bm25": {"1": {"d5": 0.76, "d3": 0.44}, "2": {"d2": 0.46, "d3": 0.44}}}
    means, pqs = score_systems(qrels, runs, tmp_path, measures=("nDCG@10", "RR@10"), depth=100)
    assert (tmp_path / "bm25.trec").read_text() == (
        "1 Q0 d5 1 0.760000 bm25\n1 Q0 d3 2 0.440000 bm25\n2 Q0 d2 1 0.460000 bm25\n2 Q0 d3 2 0.440000 bm25\n"
    )
    # query 2: the relevant d3 at rank 2: RR 1/2, nDCG@10 1/log2(3) = 0.6309
    assert (tmp_path / "perquery.tsv").read_text() == (
        "system\tmeasure\tquery_id\tvalue\n"
        "bm25\tnDCG@10\t1\t1.0000\nbm25\tnDCG@10\t2\t0.6309\n"
        "bm25\tRR@10\t1\t1.0000\nbm25\tRR@10\t2\t0.5000\n"
    )
    assert means["bm25"] == {"nDCG@10": 0.8155, "RR@10": 0.75}  # means to 4 decimals: (1 + 0.63093) / 2
    assert pqs["bm25"]["RR@10"] == {"1": 1.0, "2": 0.5}


def test_passages_unchanged_only_for_a_query_tower_student_of_the_index_model(tmp_path: Path):
    index = IndexPaths(tmp_path / "index")
    index.root.mkdir()
    index.meta.write_text(json.dumps({"doc_ids": ["d1"], "dim": 2, "model": "m", "pooling": "mean"}))
    student = tmp_path / "student"
    student.mkdir()
    assert not passages_unchanged(student, index)  # no training.json: a model from elsewhere
    (student / "training.json").write_text(json.dumps({"passage_model": "m"}))
    assert passages_unchanged(student, index)
    (student / "training.json").write_text(json.dumps({"passage_model": "other"}))
    assert not passages_unchanged(student, index)
    (student / "training.json").write_text(json.dumps({"summary": {}}))  # both towers trained
    assert not passages_unchanged(student, index)
