"""Lucene BM25 (through the one pyserini module) and faiss dense retrieval on a tiny real corpus."""

from __future__ import annotations

import numpy as np
import pytest

from listdistill.index import dense
from listdistill.records import Doc

DOCS = [
    Doc("d1", "Supersonic nozzles", "Shock waves form in a supersonic nozzle when the back pressure rises."),
    Doc("d2", "Plant biology", "Photosynthesis converts sunlight into chemical energy in leaves."),
    Doc("d3", "Monetary policy", "The central bank raised interest rates to curb inflation."),
]


@pytest.fixture(scope="module")
def bm25(tmp_path_factory):
    from listdistill.index.lucene import BM25, build_index

    index = build_index(DOCS, tmp_path_factory.mktemp("idx") / "lucene")
    return BM25(index, k1=0.9, b=0.4)


def test_lucene_configured_with_java21():
    from listdistill.index.lucene import _java_major, configure

    assert (_java_major(configure()) or 0) >= 21


def test_bm25_batch_search(bm25):
    run = bm25.search(["q1", "q2"], ["shock waves nozzle", "interest rates inflation"], k=10)
    assert max(run["q1"], key=run["q1"].get) == "d1"
    assert max(run["q2"], key=run["q2"].get) == "d3"
    assert "d2" not in run["q1"]  # no shared term, no hit


def test_bm25_indexes_the_title(bm25):
    run = bm25.search(["q"], ["monetary"], k=10)
    assert list(run["q"]) == ["d3"]


def test_faiss_flat_matches_numpy(minilm):
    emb = minilm.encode_passages([d.contents for d in DOCS])
    q = minilm.encode_queries(["how do leaves make energy", "why raise rates"])
    run = dense.search(dense.build_index(emb), q, ["a", "b"], [d.doc_id for d in DOCS], k=3, chunk=1)
    scores = q @ emb.T
    for qid, row in zip(["a", "b"], scores, strict=True):
        assert list(run[qid]) == [DOCS[i].doc_id for i in np.argsort(-row)]
        assert run[qid][DOCS[int(row.argmax())].doc_id] == pytest.approx(float(row.max()), abs=1e-5)
