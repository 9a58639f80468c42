"""listdistill.score.inputs: the score stage's inputs read and checked before any work; the teacher's errors named
by the candidates file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from listdistill.errors import StageError
from listdistill.score.inputs import read_inputs
from listdistill.score.lists import teacher_lists
from listdistill.teachers import Teacher

DOCS = {"1": "shock waves in a nozzle", "2": "interest rates", "3": "heat transfer"}


class Table(Teacher):
    """Scores from a doc -> score table (a KeyError for a doc it lacks)."""

    def __init__(self, table):
        self.table = table

    def score(self, lists, docs):
        return [np.array([self.table[d] for d in c.doc_ids], dtype=np.float64) for c in lists]


def write(tmp_path, rows):
    corpus, cands = tmp_path / "corpus.jsonl", tmp_path / "candidates.jsonl"
    corpus.write_text("".join(json.dumps({"doc_id": d, "title": "", "text": t}) + "\n" for d, t in DOCS.items()))
    cands.write_text("".join(json.dumps({"query_id": q, "text": "t", "query_type": "question", "source_doc_id": s,
                                         "candidates": c}) + "\n" for q, s, c in rows))  # fmt: skip
    return corpus, cands


def test_read_inputs_and_raw_scores(tmp_path):
    corpus, cands = write(tmp_path, [("g1", "1", ["1", "3"]), ("g2", "2", ["2", "1", "3"])])
    inputs = read_inputs(cands, corpus, None)
    assert [m.query_id for m in inputs.mined] == ["g1", "g2"] and list(inputs.docs) == ["1", "2", "3"]
    assert inputs.index is None
    lists = teacher_lists(inputs.mined, 2)
    raw = inputs.raw_scores(Table({"1": 2.0, "2": 1.0, "3": 0.5}), lists, [range(0, 1), range(1, 2)])
    assert [r.tolist() for r in raw] == [[2.0, 0.5], [1.0, 2.0]]
    with pytest.raises(StageError, match=rf"^{cands}: 3$"):
        inputs.raw_scores(Table({"1": 2.0, "2": 1.0}), lists, [range(0, 2)])


def test_read_inputs_errors(tmp_path):
    corpus, cands = write(tmp_path, [])
    with pytest.raises(StageError, match=rf"{cands}: expected mined queries, got an empty file \(mine kept none\?\)"):
        read_inputs(cands, corpus, None)
    write(tmp_path, [("g1", "1", ["1"])])
    with pytest.raises(FileNotFoundError, match="no Lucene index here"):
        read_inputs(cands, corpus, tmp_path / "no-index")
