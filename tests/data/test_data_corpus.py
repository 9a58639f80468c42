"""Your own corpus as a dataset: every input form (small real files written here), user judgments, and the
errors for bad input."""

from __future__ import annotations

import json

import pytest
from factories import dataset_spec

from listdistill.data import load_collection
from listdistill.data.documents import Fields, content_id
from listdistill.io import FormatError

ROWS = [
    {"id": "d1", "title": "Solar", "text": "Panels convert light."},
    {"id": "d2", "title": "", "text": "Wind turns turbines."},
]


def load(path, **kw):
    return load_collection(dataset_spec(str(path), cache_dir=str(path.parent / ".cache"), **kw))


def ids_texts(col):
    return [(d.doc_id, d.title, d.text) for d in col.docs]


def test_content_ids_are_stable_and_repeats_numbered(tmp_path):
    assert content_id("Solar", "Panels convert light.") == "doc-772223dba860"
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("a", "b", "a")))
    col = load(f)
    assert [d.doc_id for d in col.docs] == [content_id("", "a"), content_id("", "b"), content_id("", "a") + "~2"]
    assert col.queries == [] and col.qrels == {}


def test_jsonl_with_id_or__id(tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert ids_texts(load(f)) == [("d1", "Solar", "Panels convert light."), ("d2", "", "Wind turns turbines.")]
    f.write_text("".join(json.dumps({"_id": r["id"], "text": r["text"]}) + "\n" for r in ROWS))
    assert [d.doc_id for d in load(f).docs] == ["d1", "d2"]


def test_csv_and_tsv_with_named_fields(tmp_path):
    f = tmp_path / "docs.csv"
    f.write_text('key,heading,body\nk 1,Solar,"Panels, cells\nconvert light."\nk2,,Wind.\n')
    col = load(f, fields=Fields("key", "heading", "body"))
    assert ids_texts(col) == [("k_1", "Solar", "Panels, cells\nconvert light."), ("k2", "", "Wind.")]
    t = tmp_path / "docs.tsv"
    t.write_text("id\ttext\nd1\tPanels convert light.\n")
    assert ids_texts(load(t)) == [("d1", "", "Panels convert light.")]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), f)
    assert ids_texts(load(f)) == [("d1", "Solar", "Panels convert light."), ("d2", "", "Wind turns turbines.")]


def test_hugging_face_dataset_saved_locally(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(folder))
    col = load_collection(dataset_spec(f"hf:{folder}", cache_dir=str(tmp_path / "c"), hf_split="train"))
    assert ids_texts(col) == [("d1", "Solar", "Panels convert light."), ("d2", "", "Wind turns turbines.")]
    with pytest.raises(FormatError, match=r"expected a split 'test' \(dataset.hf_split\); it has \['train'\]"):
        load_collection(dataset_spec(f"hf:{folder}", cache_dir=str(tmp_path / "c"), hf_split="test"))
    one = tmp_path / "one"
    datasets.Dataset.from_list([{"doc": "x", "body": "Some text."}]).save_to_disk(str(one))
    with pytest.raises(FormatError, match=r"expected a column 'text' \(dataset.text_field\); the header has doc, body"):
        load_collection(dataset_spec(f"hf:{one}", cache_dir=str(tmp_path / "c")))


def test_hugging_face_dataset_folder_read_by_load_dataset(tmp_path):
    """A dataset repository's layout (data/<split>.parquet), as the hub serves it, read from a local copy."""
    import datasets

    repo = tmp_path / "my-corpus"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_list(ROWS).to_parquet(str(repo / "data" / "train.parquet"))
    col = load_collection(
        dataset_spec(f"hf:{repo}", cache_dir=str(tmp_path / "c"), fields=Fields("id", "title", "text"))
    )
    assert ids_texts(col) == [("d1", "Solar", "Panels convert light."), ("d2", "", "Wind turns turbines.")]


def test_folder_of_text_markdown_and_html(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("Plain text.\n\n\n\nSecond paragraph.  \n")
    (root / "sub" / "b.md").write_text("# Title\n\nMarkdown body.\n")
    (root / "sub" / "c.html").write_text(
        "<html><head><title>Page  one</title><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Heading</h1><p>First <b>bold</b> words.</p><noscript>enable js</noscript></body></html>"
    )
    (root / "sub" / "empty.html").write_text("<html><body><script>only()</script></body></html>")
    (root / "image.png").write_bytes(b"\x89PNG\r\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.txt").write_text("secret")
    col = load(root)
    assert ids_texts(col) == [
        ("a.txt", "", "Plain text.\n\nSecond paragraph."),
        ("sub/b.md", "", "# Title\n\nMarkdown body."),
        ("sub/c.html", "Page one", "Heading\nFirst bold words."),
    ]
    assert col.notes["dropped_empty_documents"] == "1" and col.notes["dropped_empty_examples"] == "sub/empty.html"
    assert col.notes["skipped_other_files"] == "2"  # image.png and the hidden file


def test_beir_folder_with_only_a_corpus(tmp_path):
    folder = tmp_path / "beir"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "1", "title": "t", "text": "body"}) + "\n")
    assert ids_texts(load(folder)) == [("1", "t", "body")]
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "x"}) + "\n")
    col = load(folder)
    assert col.queries == [] and "queries without a qrels/ folder" in col.notes["ignored"]


@pytest.mark.parametrize("form", ["trec+tsv", "beir+jsonl"])
def test_user_judgments_become_the_test_set(tmp_path, form):
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    if form == "trec+tsv":
        (tmp_path / "q.tsv").write_text("qid\tquery\nq1\tsolar power\nq2\tunjudged\n")
        (tmp_path / "qrels").write_text("q1 0 d1 2\nq1 0 d2 0\n")
        queries, qrels = tmp_path / "q.tsv", tmp_path / "qrels"
    else:
        (tmp_path / "q.jsonl").write_text(json.dumps({"_id": "q1", "text": "solar power"}) + "\n")
        (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")
        queries, qrels = tmp_path / "q.jsonl", tmp_path / "qrels.tsv"
    col = load(f, queries=str(queries), qrels=str(qrels))
    assert [(q.query_id, q.text) for q in col.queries] == [("q1", "solar power")]
    assert col.qrels == {"q1": {"d1": 2, "d2": 0}}


# -- bad input ---------------------------------------------------------------------------------------------------
def test_empty_folder(tmp_path):
    (tmp_path / "docs").mkdir()
    with pytest.raises(FormatError, match=r"docs: expected files ending in .htm, .html, .md, .pdf, .txt; it is empty"):
        load(tmp_path / "docs")


def test_folder_of_binary_files(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.bin").write_bytes(bytes(range(256)))
    (root / "b.so").write_bytes(b"\x7fELF")
    with pytest.raises(FormatError, match=r"docs: expected files ending in .* it holds 2 other file\(s\): a.bin, b.so"):
        load(root)
    (root / "c.txt").write_bytes(b"text\n\xff\xfe binary\n")
    with pytest.raises(FormatError, match=r"c\.txt:2: expected UTF-8 text, got byte 0xff at column 1"):
        load(root)


def test_all_files_empty_after_markup_removal(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.html").write_text("<html><head><style>x{}</style></head><body> </body></html>")
    with pytest.raises(FormatError, match=r"docs: all 1 readable file\(s\) are empty once markup is removed"):
        load(root)


def test_duplicate_path_after_normalisation(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a b.txt").write_text("one")
    (root / "a_b.txt").write_text("two")
    with pytest.raises(
        FormatError, match=r"a_b\.txt: its id 'a_b\.txt' \(the path, normalised\) is also that of .*a b\.txt"
    ):
        load(root)


def test_csv_whose_text_field_does_not_exist(tmp_path):
    f = tmp_path / "docs.csv"
    f.write_text("id,title,body\n1,t,b\n")
    with pytest.raises(FormatError, match=r"docs\.csv:1: expected a column 'text' \(dataset\.text_field\); the header "
                       r"has id, title, body"):  # fmt: skip
        load(f)
    with pytest.raises(FormatError, match=r"docs\.csv:1: expected a column 'doc' \(dataset\.id_field\)"):
        load(f, fields=Fields("doc", "title", "body"))


def test_csv_row_with_too_many_fields(tmp_path):
    f = tmp_path / "docs.csv"
    f.write_text("id,text\n1,a\n2,b,extra\n")
    with pytest.raises(FormatError, match=r"docs\.csv:3: expected 2 fields, got more"):
        load(f)


def test_judged_query_missing_from_the_queries_file(tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "q.tsv").write_text("q1\tsolar\n")
    (tmp_path / "qrels").write_text("q9 0 d1 1\n")
    with pytest.raises(FormatError, match=r"qrels: query id\(s\) \['q9'\] judged here are not in .*q\.tsv"):
        load(f, queries=str(tmp_path / "q.tsv"), qrels=str(tmp_path / "qrels"))


def test_user_judgments_follow_the_records_rules(tmp_path):
    """A query id given twice, an id with an invisible character, no relevant judgment: errors naming the line; a
    repeated judgment: a note (issue 21's rules apply to a corpus's own judgments too)."""
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "twice.tsv").write_text("q1\tsolar\nq1\twind\n")
    (tmp_path / "zw.tsv").write_text("q\u200b1\tsolar\n")
    (tmp_path / "q.tsv").write_text("q1\tsolar\n")
    (tmp_path / "qrels").write_text("q1 0 d1 1\nq1 0 d1 1\n")
    (tmp_path / "irrelevant").write_text("q1 0 d1 0\n")
    with pytest.raises(FormatError, match=r"twice\.tsv:2: expected a unique query id, 'q1' repeats .*twice\.tsv:1$"):
        load(f, queries=str(tmp_path / "twice.tsv"), qrels=str(tmp_path / "qrels"))
    with pytest.raises(FormatError, match=r"zw\.tsv:1: expected 'query-id' to be an id without whitespace, control "
                       r"or format characters \(it holds zero width space U\+200B at character 2\)"):  # fmt: skip
        load(f, queries=str(tmp_path / "zw.tsv"), qrels=str(tmp_path / "qrels"))
    with pytest.raises(FormatError, match=r"irrelevant: expected at least one relevant judgment \(grade > 0\)"):
        load(f, queries=str(tmp_path / "q.tsv"), qrels=str(tmp_path / "irrelevant"))
    assert load(f, queries=str(tmp_path / "q.tsv"), qrels=str(tmp_path / "qrels")).notes == {"repeated_judgments": "1"}


def test_a_document_id_with_an_invisible_character_names_its_line(tmp_path):
    f = tmp_path / "docs.csv"
    f.write_text("id,text\nd\u200b1,Panels\nd2,Wind\n")
    with pytest.raises(FormatError, match=r"docs\.csv:2: expected 'id' to be an id without whitespace, control or "
                       r"format characters \(it holds zero width space U\+200B at character 2\)"):  # fmt: skip
        load(f)


def test_a_collection_with_its_own_judgments_refuses_user_judgments(tmp_path, shared_datasets):
    with pytest.raises(ValueError, match=r"has its own judgments; leave them empty"):
        load(shared_datasets / "adi", queries="q.tsv", qrels="qrels")


def test_pdf_text_is_extracted(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = tmp_path / "docs"
    root.mkdir()
    plt.rcParams["pdf.fonttype"] = 42  # TrueType text, as most PDF writers embed it
    fig = plt.figure(figsize=(6, 2))
    fig.text(0.05, 0.6, "Solar panels convert light into electricity.")
    fig.text(0.05, 0.3, "Wind turbines turn kinetic energy.")
    fig.savefig(root / "notes.pdf", metadata={"Title": "Energy notes"})
    plt.close(fig)
    col = load(root)
    assert ids_texts(col) == [
        (
            "notes.pdf",
            "Energy notes",
            "Solar panels convert light into electricity.\nWind turbines turn kinetic energy.",
        )
    ]
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(FormatError, match=r"broken\.pdf: expected a readable PDF"):
        load(root)
