"""Label-free evaluation: the held-out passages, the teacher's graded labels, the test sets evaluate scores, the
plot data and the model card; and prepare on a corpus alone, with hidden judgments, and with bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from factories import proxy_config

from listdistill.evaluate.plots import bootstrap_ci, difference_rows, system_rows
from listdistill.evaluate.proxy import grade, grades, label
from listdistill.evaluate.testsets import eval_sets
from listdistill.io import FormatError
from listdistill.pool import build_pool, hold_out_units
from listdistill.records import (
    CollectionInfo,
    Doc,
    MinedQuery,
    Query,
    read_collection_info,
    read_docs,
    read_qrels,
    read_queries,
    write_collection_info,
    write_jsonl,
    write_qrels,
)
from listdistill.report.card import CardInputs, model_card
from listdistill.teachers import Candidates
from stages.prepare import main as prepare_main
from tests.conftest import set_args

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima")


def docs(ids):
    return [Doc(i, "", f"a text about {WORDS[n]}") for n, i in enumerate(ids)]


def test_hold_out_takes_whole_documents_up_to_half():
    passages = docs(["a#0", "a#1", "a#2", "b#0", "c#0", "d#0", "e#0", "f#0"])
    held = hold_out_units(passages, 3, seed=1, unit=lambda d: d.split("#")[0])
    assert held == hold_out_units(passages, 3, seed=1, unit=lambda d: d.split("#")[0])  # seeded
    by_doc = {h.split("#")[0] for h in held}
    assert all({f"{d}#{k}" for k in range(3)} <= held for d in by_doc if d == "a")  # a whole document or none
    assert 3 <= len(held) <= 4
    assert len(hold_out_units(passages, 100, seed=1)) == 4  # at most half


def test_pool_without_judgments_keeps_the_heldout_out():
    corpus = docs([str(i) for i in range(10)]) + [Doc("dup", "", "a text about delta")]
    result = build_pool(corpus, {}, None, 7, hold_out=4)
    held = {d.doc_id for d in result.heldout}
    assert len(held) == 4 and not held & {d.doc_id for d in result.pool}
    assert len(result.pool) == 6 and result.stats["heldout"] == 4 and "dup" not in held


def test_grades_from_normalised_teacher_scores():
    assert [grade(s, 0.5) for s in (0.0, 0.49, 0.5, 0.66, 0.67, 0.82, 0.84, 1.0)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert grades(["s", "a", "b"], [0.1, 0.9, 0.3], "s", 0.5) == {"s": 3, "a": 3, "b": 0}


def test_label_builds_queries_qrels_and_sources():
    mined = [MinedQuery("questions-s", "what is s", "questions", "s", ("a", "s", "b"))]
    lists = [Candidates("questions-s", "what is s", ("a", "s", "b"))]
    raw = [np.array([2.1, 3.0, 0.0])]  # normalised by percentiles 0 and 100: 0.7, 1.0, 0.0
    out = label(mined, lists, raw, proxy_config(depth=3, norm_low=0, norm_high=100, min_relevant=0.5))
    assert [(q.query_id, q.text) for q in out.queries] == [("questions-s", "what is s")]
    assert out.qrels == {"questions-s": {"a": 2, "s": 3, "b": 0}}  # a: 0.7 is in the second third of [0.5, 1]
    assert out.sources == {"questions-s": {"s": 1}}
    assert out.stats["grades"] == {"0": 1, "1": 0, "2": 1, "3": 1} and out.stats["relevant_per_query"] == 2.0


def test_collection_info_round_trip(tmp_path):
    info = CollectionInfo("docs", 3, 5, True, 64, 16, "label-free", False)
    write_collection_info(tmp_path / "c.json", info)
    assert read_collection_info(tmp_path / "c.json") == info
    (tmp_path / "c.json").write_text(json.dumps({**info.__dict__, "evaluation": "vibes"}))
    with pytest.raises(ValueError, match=r"c\.json: expected 'evaluation' to be one of"):
        read_collection_info(tmp_path / "c.json")


def test_evaluate_reads_every_test_set_against_the_corpus(tmp_path):
    """The label-free set's judgments name passages of the corpus, and a judged set needs a relevant judgment."""
    prepared, proxy = tmp_path / "prepared", tmp_path / "proxy"
    passages = docs(["p1", "p2"])
    write_jsonl(proxy / "queries.jsonl", [Query("s1", "alpha text")])
    write_qrels(proxy / "qrels.txt", {"s1": {"p1": 3, "p9": 1}})
    write_qrels(proxy / "sources.txt", {"s1": {"p1": 1}})
    label_free = CollectionInfo("docs", 2, 2, False, 0, 0, "label-free", False)
    with pytest.raises(FormatError, match=r"proxy/qrels\.txt:2: expected a doc id of the corpus, got 'p9'$"):
        eval_sets(label_free, prepared, proxy, passages)
    write_qrels(proxy / "qrels.txt", {"s1": {"p1": 3, "p2": 1}})
    assert [(s.kind, s.qrels) for s in eval_sets(label_free, prepared, proxy, passages)] == [
        ("label-free", {"s1": {"p1": 3, "p2": 1}})
    ]
    write_jsonl(prepared / "queries.jsonl", [Query("q1", "alpha")])
    write_qrels(prepared / "qrels.txt", {"q1": {"p1": 0}})
    judged = CollectionInfo("docs", 2, 2, False, 0, 0, "judgments", False)
    with pytest.raises(FormatError, match=r"prepared/qrels\.txt: expected at least one relevant judgment"):
        eval_sets(judged, prepared, proxy, passages)


def test_bootstrap_interval_and_differences_are_exact_and_seeded():
    assert bootstrap_ci([0.5, 0.5, 0.5], seed=3) == (0.5, 0.5)
    low, high = bootstrap_ci([0.0, 1.0, 0.0, 1.0], seed=3)
    assert (low, high) == bootstrap_ci([0.0, 1.0, 0.0, 1.0], seed=3) and 0.0 <= low < 0.5 < high <= 1.0
    rows = system_rows({"bm25": {"nDCG@10": {"2": 1.0, "10": 0.0}, "RR@10": {"2": 1.0, "10": 1.0}}}, seed=0)
    assert [(r["system"], r["measure"], r["mean"], r["queries"]) for r in rows] == [("bm25", "nDCG@10", "0.5000", 2)]
    assert difference_rows({"a": 0.5, "b": 0.2, "c": 0.2}, {"a": 0.1, "b": 0.4, "c": 0.2}) == [
        {"rank": 1, "query_id": "a", "difference": "0.4000"},
        {"rank": 2, "query_id": "c", "difference": "0.0000"},
        {"rank": 3, "query_id": "b", "difference": "-0.2000"},
    ]


def test_model_card_says_what_kind_of_evaluation_it_is():
    ev = {
        "evaluation": {"kind": "label-free", "what": "agreement with the teacher on synthetic queries, not relevance",
                       "queries": 7, "aggregation": "passage"},
        "student": {"nDCG@10": 0.61, "R@100": 0.9},
        "student_zero_shot": {"nDCG@10": 0.5, "R@100": 0.9},
        "student_vs_zero_shot_p": {"nDCG@10": 0.04},
        "hidden_judgments": {"evaluation": {"kind": "hidden judgments", "queries": 3, "aggregation": "passage"},
                             "student": {"nDCG@10": 0.3}, "student_zero_shot": {"nDCG@10": 0.2}},
    }  # fmt: skip
    card = model_card(CardInputs(
        corpus="manuals", base_model="sentence-transformers/all-MiniLM-L6-v2", dim=384, query_max_length=64,
        passage_max_length=256, prepare={"documents": 10, "passages": 30}, train={"train_queries": 5, "dev_queries":
        1, "train_queries_by_type": {"sentences": 5}, "loss": "listwise", "tower": "query"}, config={"lr": 5e-05},
        evaluation=ev, teacher="`ensemble`", generator="gen", pictures=["systems.png"], versions={"torch": "2"},
    ))  # fmt: skip
    assert card.startswith("---\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\ntags:\n")
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2\n---\n" in card
    assert "**What this is: agreement with the teacher on synthetic queries, not relevance.**" in card
    assert "| system | nDCG@10 | R@100 |\n|---|---|---|\n| **student** | 0.6100 | 0.9000 |" in card
    assert "Paired randomization test, student vs zero-shot: nDCG@10 p = 0.04." in card
    assert "- **Corpus:** `manuals`, 10 documents, 30 passages\n" in card and "  - sentences: 5\n" in card
    assert "![Each system's mean with its 95% bootstrap interval](plots/systems.png)" in card
    assert "### Hidden judgments (3 queries, passage)" in card and "| **student** | 0.3000 |" in card
    assert "difference.png" not in card and "- torch: 2\n" in card


# -- prepare on a corpus alone --------------------------------------------------------------------------------------
def run_prepare(params_file, tmp_path, sets):
    out = tmp_path / "prepared"
    args = ["--params", str(params_file()), *set_args(sets), "--out", str(out), "--stats", str(tmp_path / "s.json")]
    return CliRunner().invoke(prepare_main, args), out


def write_folder(root, n=12):
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"doc{i}.txt").write_text(f"Document {i} talks about {WORDS[i]}. A second sentence on {WORDS[i]}.")
    return root


def test_prepare_a_folder_without_judgments_holds_passages_out(tmp_path, params_file):
    root = write_folder(tmp_path / "docs")
    r, out = run_prepare(params_file, tmp_path, {"dataset.name": str(root), "proxy.heldout": 4})
    assert r.exit_code == 0, r.output
    info = read_collection_info(out / "collection.json")
    assert (info.evaluation, info.documents, info.passages, info.chunked) == ("label-free", 12, 12, False)
    held = {d.doc_id for d in read_docs(out / "heldout.jsonl")}
    assert len(held) == 4 and not held & {d.doc_id for d in read_docs(out / "pool.jsonl")}
    assert read_queries(out / "queries.jsonl") == [] and read_qrels(out / "qrels.txt") == {}


def test_prepare_chunks_with_the_student_tokenizer(tmp_path, params_file):
    root = write_folder(tmp_path / "docs", n=2)
    r, out = run_prepare(params_file, tmp_path, {"dataset.name": str(root), "dataset.chunk_tokens": 10})
    assert r.exit_code == 0, r.output
    assert [d.doc_id for d in read_docs(out / "corpus.jsonl")] == ["doc0.txt#0", "doc0.txt#1", "doc1.txt#0",
                                                                   "doc1.txt#1"]  # fmt: skip
    assert read_collection_info(out / "collection.json").chunked


def test_prepare_hides_judgments(tmp_path, params_file, shared_datasets):
    r, out = run_prepare(params_file, tmp_path, {"dataset.name": str(shared_datasets / "adi"),
                                                 "dataset.judgments": "hide", "proxy.heldout": 10})  # fmt: skip
    assert r.exit_code == 0, r.output
    info = read_collection_info(out / "collection.json")
    assert info.evaluation == "label-free" and info.hidden_judgments
    assert len(read_queries(out / "hidden_queries.jsonl")) == 35 and read_queries(out / "queries.jsonl") == []
    assert len(read_docs(out / "heldout.jsonl")) == 10 and read_qrels(out / "qrels.txt") == {}


@pytest.mark.parametrize(
    ("setup", "sets", "expected"),
    [
        (lambda root: root.mkdir(), {}, "docs: expected files ending in"),
        (lambda root: write_folder(root, 2), {"dataset.chunk_tokens": 3},
         "dataset.chunk_tokens: 3 tokens is smaller than a sentence of this corpus"),
        (lambda root: write_folder(root, 2), {"dataset.chunk_tokens": 8, "dataset.chunk_overlap": 8},
         "dataset.chunk_overlap (8) must be below dataset.chunk_tokens (8)"),
        (lambda root: write_folder(root, 2), {"dataset.queries": "q.tsv"},
         "dataset.queries and dataset.qrels: give both files"),
        (lambda root: write_folder(root, 2), {"proxy.types": ["riddles"]}, "proxy.types[0]:"),
    ],
)  # fmt: skip
def test_prepare_bad_input_is_one_error_line(tmp_path, params_file, setup, sets, expected):
    root = tmp_path / "docs"
    setup(root)
    r, out = run_prepare(params_file, tmp_path, {"dataset.name": str(root), **sets})
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith("Error: ") and expected in r.output, r.output
    assert not out.exists()  # atomic: nothing written
