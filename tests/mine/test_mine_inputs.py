"""listdistill.mine.inputs: the mine stage's inputs read and checked against the corpus before any work."""

from __future__ import annotations

import json

import pytest
from factories import encoder_config
from tiny_corpus import CORPUS, prepared_with_index

from listdistill.errors import StageError
from listdistill.mine.inputs import read_inputs


@pytest.fixture(scope="module")
def prepared_and_index(tmp_path_factory):
    return prepared_with_index(tmp_path_factory.mktemp("tiny"))


def test_read_inputs_excludes_judged_passages_and_their_duplicates(prepared_and_index, tmp_path):
    prepared, index_dir = prepared_and_index
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"query_id": "g1", "text": "nozzle", "query_type": "questions",
                                   "source_doc_id": "1"}) + "\n")  # fmt: skip
    inputs = read_inputs(queries, prepared, index_dir, "Flat")
    assert [q.query_id for q in inputs.queries] == ["g1"] and inputs.excluded == {"6", "7"}
    assert [d.doc_id for d in inputs.docs] == [c[0] for c in CORPUS] and inputs.corpus == prepared / "corpus.jsonl"
    assert [r.name for r in inputs.retrievers("bm25", encoder_config(), 0.9, 0.4, "Flat", tmp_path)] == ["bm25"]


def test_read_inputs_errors(prepared_and_index, tmp_path):
    prepared, index_dir = prepared_and_index
    empty = tmp_path / "q.jsonl"
    empty.write_text("")
    with pytest.raises(StageError, match=rf"^{empty}: expected generated queries, got an empty file"):
        read_inputs(empty, prepared, index_dir, "Flat")
