from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_params

from listdistill.generate.catalog import load_type
from listdistill.generate.extract import ExtractConfig, draw, extract_queries, spans
from listdistill.records import Doc, write_jsonl
from stages.generate import main

PUNCTUATED = (
    "An experimental study of a wing in a propeller slipstream was made . The results were intended as an "
    "evaluation basis for different theoretical treatments . Short one . Lift increases with the slipstream "
    "velocity ratio at every angle of attack that was tested in the tunnel."
)
UNPUNCTUATED = " ".join(f"w{i}" for i in range(45))  # Vaswani-style: no sentence punctuation at all


def test_spans_are_sentences_and_long_text_is_cut_evenly():
    assert spans(PUNCTUATED, 5, 20) == [
        "An experimental study of a wing in a propeller slipstream was made",
        "The results were intended as an evaluation basis for different theoretical treatments",
        "Lift increases with the slipstream velocity ratio at every angle of attack that was tested in the tunnel",
    ]  # "Short one" is under min_words; stand-alone " ." tokens and edge punctuation are dropped
    cut = spans(UNPUNCTUATED, 5, 20)
    assert [len(s.split()) for s in cut] == [15, 15, 15]  # 45 words -> 3 near-equal spans of <= 20
    assert " ".join(cut) == UNPUNCTUATED


def test_draw_is_seeded_per_passage_and_keeps_order():
    items = [f"s{i}" for i in range(10)]
    a = draw(items, 4, 42, "d1")
    assert a == draw(items, 4, 42, "d1") and len(a) == 4 and [i for i, _ in a] == sorted(i for i, _ in a)
    assert a != draw(items, 4, 42, "d2") or a != draw(items, 4, 7, "d1")
    assert draw(items[:3], 4, 42, "d1") == [(0, "s0"), (1, "s1"), (2, "s2")]


def test_extract_queries_ids_sources_and_duplicates():
    docs = [Doc("1", "", PUNCTUATED), Doc("2", "", PUNCTUATED), Doc("3", "", "too short")]
    kept, dropped = extract_queries(docs, "sentences", ExtractConfig(per_passage=3, min_words=5, max_words=20), 0)
    assert len(kept) == 3 and all(q["source_doc_id"] == "1" and q["query_type"] == "sentences" for q in kept)
    assert all(q["query_id"].startswith("sentences-1-") for q in kept)
    assert [d["status"] for d in dropped] == ["duplicate", "duplicate", "duplicate", "empty"]


def test_sentences_type_in_the_catalog():
    qtype = load_type("sentences")
    assert qtype.kind == "extract" and qtype.extract == ExtractConfig(1000, per_passage=4, min_words=5, max_words=20)


def test_bad_extract_type_is_named(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("kind: extract\nper_passage: 0\n")
    with pytest.raises(ValueError, match=r"bad.yaml: need passages >= 0, per_passage >= 1"):
        load_type("bad", tmp_path)


def test_generate_stage_writes_extracted_queries_without_a_model(tmp_path: Path):
    write_jsonl(
        tmp_path / "pool.jsonl",
        [{"doc_id": str(i), "title": "", "text": PUNCTUATED + f" Case {i} of many variants"} for i in range(5)],
    )
    out, stats = tmp_path / "out", tmp_path / "stats"
    params = write_params(tmp_path, {"generate.passages_per_type": 3, "generate.model": "no/such-model"})
    argv = ["--params", str(params), "--query-type", "sentences", "--pool", str(tmp_path / "pool.jsonl")]
    r = CliRunner().invoke(main, [*argv, "--out", str(out), "--stats", str(stats)])
    assert r.exit_code == 0, r.output  # no model is loaded for an extract type
    rows = [json.loads(line) for line in (out / "sentences.jsonl").read_text().splitlines()]
    # the type's own 1000, not generate.passages_per_type
    assert {r["source_doc_id"] for r in rows} == {str(i) for i in range(5)}
    assert len({r["query_id"] for r in rows}) == len(rows)
    assert json.loads((stats / "sentences.json").read_text())["passages"] == 5
    r = CliRunner().invoke(main, [*argv, "--out", str(out), "--stats", str(stats), "--shard", "0/2"])
    assert r.exit_code != 0 and "run it whole" in r.output
