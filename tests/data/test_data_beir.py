from __future__ import annotations

import json

import pytest
from factories import dataset_spec

from listdistill.data import load_collection
from listdistill.data.beir import load_beir_hub
from listdistill.io import FormatError

CORPUS = [
    {"_id": "d1", "title": "Solar panels", "text": "Photovoltaic cells convert light to electricity."},
    {"_id": "d2", "title": "", "text": "Wind turbines convert kinetic energy."},
    {"_id": "d3", "title": "Hydro", "text": "Dams store water."},
]
QUERIES = [
    {"_id": "q1", "text": "how do solar cells work"},
    {"_id": "q2", "text": "wind power"},
    {"_id": "q3", "text": "not judged"},
]


def make_beir_folder(root, qrels_lines=("q1\td1\t1", "q2\td2\t2")):
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QUERIES))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels_lines) + "\n")
    return root


def test_beir_folder(tmp_path):
    col = load_collection(dataset_spec(str(make_beir_folder(tmp_path / "toy")), cache_dir=str(tmp_path)))
    assert [d.doc_id for d in col.docs] == ["d1", "d2", "d3"]
    assert col.docs[0].title == "Solar panels"
    assert [q.query_id for q in col.queries] == ["q1", "q2"]  # unjudged q3 dropped
    assert col.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_beir_qrels_bad_line(tmp_path):
    folder = make_beir_folder(tmp_path / "toy", ("q1\td1\t1", "q2 d2 1"))
    with pytest.raises(FormatError, match=r"test\.tsv:3: expected 3 tab-separated fields"):
        load_collection(dataset_spec(str(folder), cache_dir=str(tmp_path)))


def test_beir_qrels_unknown_query(tmp_path):
    folder = make_beir_folder(tmp_path / "toy", ("q1\td1\t1", "q9\td2\t1"))
    with pytest.raises(FormatError, match=r"\['q9'\] judged in the qrels are not in the queries"):
        load_collection(dataset_spec(str(folder), cache_dir=str(tmp_path)))


def test_hub_layout_through_datasets_from_a_local_copy(tmp_path):
    """The BeIR/<name> + BeIR/<name>-qrels hub layout, read by `datasets` from local copies of both repos."""
    import datasets

    corpus_repo, qrels_repo = tmp_path / "BeIR_toy", tmp_path / "BeIR_toy-qrels"
    for sub, rows in (("corpus", CORPUS), ("queries", QUERIES)):
        (corpus_repo / sub).mkdir(parents=True)
        datasets.Dataset.from_list(rows).to_parquet(str(corpus_repo / sub / f"{sub}.parquet"))
    (corpus_repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: corpus\n  data_files:\n  - split: corpus\n    path: corpus/*.parquet\n"
        "- config_name: queries\n  data_files:\n  - split: queries\n    path: queries/*.parquet\n---\n"
    )
    qrels_repo.mkdir()
    (qrels_repo / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    (qrels_repo / "README.md").write_text(
        '---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: test.tsv\n  sep: "\\t"\n---\n'
    )
    docs, queries, qrels = load_beir_hub(str(corpus_repo), str(qrels_repo), "test", tmp_path / "cache")
    assert [d.doc_id for d in docs] == ["d1", "d2", "d3"]
    assert [q.query_id for q in queries] == ["q1", "q2"]
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
