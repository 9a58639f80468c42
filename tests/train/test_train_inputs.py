"""listdistill.train.inputs and the list selection: the train stage's inputs, read and checked before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listdistill.config import load_params
from listdistill.errors import StageError
from listdistill.records import write_jsonl
from listdistill.train.data import ListSelection
from listdistill.train.inputs import read_inputs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["shock waves on a swept wing", "boundary layer transition", "flutter of thin panels", "buckling of shells"]


def scored(root, qtype: str, split: str, ids: range) -> None:
    rows = [{"query_id": f"{qtype}-{i}", "text": f"{qtype} {i}", "query_type": qtype, "source_doc_id": str(i % 4),
             "candidates": [{"doc_id": str((i + k) % 4), "teacher_score": round(1 - k / 4, 6), "raw_score": 4.0 - k}
                            for k in range(4)]} for i in ids]  # fmt: skip
    (root / qtype).mkdir(parents=True, exist_ok=True)
    write_jsonl(root / qtype / f"{split}.jsonl", rows)


@pytest.fixture()
def lists(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"doc_id": str(i), "title": "", "text": t}) + "\n" for i, t in enumerate(DOCS))
    )
    for qtype in ("questions", "claims"):
        scored(tmp_path / "scored", qtype, "train", range(0, 6))
        scored(tmp_path / "scored", qtype, "dev", range(6, 8))
    return tmp_path / "scored", corpus


def test_params_build_the_list_selection():
    p = load_params(
        ROOT / "params.yaml", ["seed=7", "query_mix=[claims]", "train.max_queries_per_type=3", "train.list_length=5"]
    )
    assert p.to_lists() == ListSelection(("claims",), 5, 7, 3, 0, 128)


def test_read_inputs_selects_the_mix_and_caps(lists):
    scored_dir, corpus = lists
    data = read_inputs(scored_dir, corpus, None, ListSelection(("questions", "claims"), 3, 1, 4, 0, 3), "m", "both")
    assert list(data.texts) == ["0", "1", "2", "3"] and data.frozen is None
    assert len(data.train) == 8 and len(data.dev) == 3 and all(len(e.doc_ids) == 3 for e in data.train)
    assert sorted({e.query_type for e in data.train}) == ["claims", "questions"]
    only = read_inputs(scored_dir, corpus, None, ListSelection(("claims",), 4, 1, 0, 0, 0), "m", "both")
    assert {e.query_type for e in only.train} == {"claims"} and (len(only.train), len(only.dev)) == (6, 2)


def test_query_tower_needs_the_index(lists):
    scored_dir, corpus = lists
    with pytest.raises(StageError, match="train.tower query trains against the index's corpus embeddings"):
        read_inputs(scored_dir, corpus, None, ListSelection(("claims",), 4, 1, 0, 0, 0), "m", "query")
