"""The real-query arm: the split never lets a training query be tested; qrels and teacher labelling."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_params
from factories import real_config

from listdistill.records import Doc, Query, read_qrels, read_queries
from listdistill.score.real import label_lists, qrels_list
from listdistill.split import split_queries
from listdistill.teachers import Candidates, Teacher
from stages import prepare

QUERIES = [Query(str(i), f"query {i}") for i in range(1, 201)]
QRELS = {str(i): {f"d{i}": 2, f"d{i + 1}": 1} for i in range(1, 201)}


def test_split_is_disjoint_seeded_and_sized():
    train, train_qrels, test, test_qrels = split_queries(QUERIES, QRELS, 0.5, seed=7)
    tr, te = {q.query_id for q in train}, {q.query_id for q in test}
    assert not tr & te and tr | te == {q.query_id for q in QUERIES}
    assert set(train_qrels) == tr and set(test_qrels) == te
    assert 70 < len(train) < 130
    assert [q.query_id for q in split_queries(QUERIES, QRELS, 0.5, seed=7)[0]] == [q.query_id for q in train]
    assert split_queries(QUERIES, QRELS, 0.0, seed=7)[0] == []  # off: every query is a test query
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_queries(QUERIES, QRELS, 1.0, seed=7)


def test_prepare_tests_only_the_held_out_queries(shared_datasets, tmp_path):
    out = tmp_path / "prepared"
    params = write_params(tmp_path, {"dataset.name": "cranfield", "dataset.mirror": str(shared_datasets)})
    argv = ["--params", str(params), "--out", str(out), "--stats", str(tmp_path / "s.json")]
    r = CliRunner().invoke(prepare.main, [*argv, "--set", "prepare.real_query_fraction=0.5"])
    assert r.exit_code == 0, r.output
    test, real = read_queries(out / "queries.jsonl"), read_queries(out / "real_queries.jsonl")
    assert len(test) + len(real) == 225 and not {q.query_id for q in test} & {q.query_id for q in real}
    assert set(read_qrels(out / "qrels.txt")) <= {q.query_id for q in test}  # evaluate sees only the test half
    assert set(read_qrels(out / "real_qrels.txt")) <= {q.query_id for q in real}
    assert json.loads((tmp_path / "s.json").read_text())["real_training_queries"] == len(real)


def test_prepare_takes_the_collections_own_training_split(tmp_path):
    """prepare.real_split: SciFact-style train claims train, every test query stays a test query; a train query id
    that is also a test query never trains."""
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage {i} on wing flutter"} for i in range(6)]
    queries = [{"_id": q, "text": f"claim {q}"} for q in ("t1", "t2", "r1", "r2", "r3")]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (beir / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    head = "query-id\tcorpus-id\tscore\n"
    (beir / "qrels" / "test.tsv").write_text(head + "t1\td0\t1\nt2\td1\t1\n")
    (beir / "qrels" / "train.tsv").write_text(head + "r1\td2\t1\nr2\td3\t1\nr3\td4\t1\nt1\td5\t1\n")
    out, params = tmp_path / "prepared", write_params(tmp_path, {"dataset.name": str(beir)})
    argv = ["--params", str(params), "--out", str(out), "--stats", str(tmp_path / "s.json")]
    r = CliRunner().invoke(prepare.main, [*argv, "--set", "prepare.real_split=train"])
    assert r.exit_code == 0, r.output
    assert [q.query_id for q in read_queries(out / "queries.jsonl")] == ["t1", "t2"]
    assert [q.query_id for q in read_queries(out / "real_queries.jsonl")] == ["r1", "r2", "r3"]
    assert read_qrels(out / "real_qrels.txt") == {"r1": {"d2": 1}, "r2": {"d3": 1}, "r3": {"d4": 1}}
    assert read_qrels(out / "qrels.txt") == {"t1": {"d0": 1}, "t2": {"d1": 1}}
    both = CliRunner().invoke(prepare.main, [*argv, "--set", "prepare.real_split=train",
                                             "--set", "prepare.real_query_fraction=0.5"])  # fmt: skip
    assert both.exit_code == 1 and "exclude each other" in both.output


def test_qrels_list_forces_the_best_judged_passage_in():
    assert qrels_list(["a", "b", "c"], {"c": 1, "b": 2}, 3) == (["a", "b", "c"], [0.0, 1.0, 0.5])
    assert qrels_list(["a", "b", "c"], {"z": 3, "b": 1}, 3) == (["a", "b", "z"], [0.0, 1 / 3, 1.0])
    assert qrels_list(["a", "b"], {"b": 0}, 3) is None


class OverlapTeacher(Teacher):
    """Scores a passage by the words it shares with the query."""

    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        return [
            np.array([len(set(c.text.split()) & set(docs[d].text.split())) for d in c.doc_ids], float) for c in lists
        ]


def test_label_lists_by_teacher_and_by_qrels_exclude_test_passages():
    docs = {d: Doc(d, "", t) for d, t in {"a": "wing lift", "b": "wing", "c": "shell", "t": "wing lift drag"}.items()}
    queries = [Query("1", "wing lift drag")]
    fused = {"1": {"t": 4.0, "a": 3.0, "b": 2.0, "c": 1.0}}
    cfg = real_config(labels="teacher", depth=3, dev_fraction=0.0)
    train, dev = label_lists(queries, fused, cfg, docs, teacher=OverlapTeacher(), excluded={"t"})
    assert dev == [] and len(train) == 1
    rec = train[0]
    assert rec.query_id == "real-1" and rec.query_type == "real" and rec.source_doc_id == "a"
    assert [c.doc_id for c in rec.candidates] == ["a", "b", "c"]  # the test-relevant "t" never listed
    assert [c.raw_score for c in rec.candidates] == [2.0, 1.0, 0.0]
    qrels = {"1": {"t": 2, "c": 1}}
    train, _ = label_lists(queries, fused, real_config(labels="qrels", depth=3, dev_fraction=0.0), docs, qrels=qrels,
                           excluded={"t"})  # fmt: skip
    assert train[0].source_doc_id == "c"  # "t" is relevant to a test query too: never a training positive
    assert [c.teacher_score for c in train[0].candidates] == [0.0, 0.0, 1.0]
