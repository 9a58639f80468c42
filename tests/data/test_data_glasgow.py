from __future__ import annotations

import pytest
from factories import dataset_spec

from listdistill.data import load_collection
from listdistill.data.glasgow import (
    npl_qrels,
    parse_cranfield_docs,
    parse_cranfield_qrels,
    parse_cranfield_queries,
    parse_npl,
    parse_trec_docs,
    parse_trec_topics,
)
from listdistill.io import FormatError

CRAN_DOCS = """.I 1
.T
experimental investigation of the aerodynamics of a
wing in a slipstream .
.A
brenckman,m.
.B
j. ae. scs. 25, 1958, 324.
.W
experimental investigation of the aerodynamics of a
wing in a slipstream .
  an experimental study of a wing in a propeller slipstream was
made .
.I 2
.T
empty body paper .
.A
.B
.W
"""

CRAN_QRY = """.I 001
.W
what similarity laws must be obeyed when constructing aeroelastic models
of heated high speed aircraft .
.I 002
.W
what are the structural problems .
.I 004
.W
what problems of heat conduction have been solved .
"""


def test_cranfield_docs_drop_repeated_title(tmp_path):
    p = tmp_path / "cran.all.1400"
    p.write_text(CRAN_DOCS)
    d1, d2 = parse_cranfield_docs(p)
    assert d1.doc_id == "1"
    assert d1.title == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    assert d1.text == "an experimental study of a wing in a propeller slipstream was made ."
    assert (d2.doc_id, d2.title, d2.text) == ("2", "empty body paper .", "")


def test_cranfield_queries_renumbered_by_position(tmp_path):
    p = tmp_path / "cran.qry"
    p.write_text(CRAN_QRY)
    qs = parse_cranfield_queries(p)
    assert [q.query_id for q in qs] == ["1", "2", "3"]  # .I 001, 002, 004 -> 1, 2, 3
    assert qs[2].text == "what problems of heat conduction have been solved ."


def test_cranfield_qrels_binary_and_graded(tmp_path):
    p = tmp_path / "cranqrel"
    p.write_text("1 184 2 \n1 29 -1\n2 12 4\n")
    assert parse_cranfield_qrels(p) == {"1": {"184": 1, "29": 0}, "2": {"12": 1}}
    assert parse_cranfield_qrels(p, "graded") == {"1": {"184": 2, "29": 0}, "2": {"12": 4}}


def test_cranfield_qrels_bad_line(tmp_path):
    p = tmp_path / "cranqrel"
    p.write_text("1 184 2\n1 29\n")
    with pytest.raises(FormatError, match=r"cranqrel:2: expected 3 fields"):
        parse_cranfield_qrels(p)


def test_cranfield_text_before_first_record(tmp_path):
    p = tmp_path / "cran.all.1400"
    p.write_text("garbage\n" + CRAN_DOCS)
    with pytest.raises(FormatError, match=r":1: text before the first '.I'"):
        parse_cranfield_docs(p)


def test_vaswani_trec_formats(tmp_path):
    docs = tmp_path / "doc-text.trec"
    docs.write_text(
        "<DOC>\n<DOCNO>1</DOCNO>\ncompact memories have\nflexible capacities\n</DOC>\n"
        "<DOC>\n<DOCNO>2</DOCNO>\nan electronic analogue\n</DOC>\n"
    )
    topics = tmp_path / "query-text.trec"
    topics.write_text("<top>\n<num>1</num><title>\nMEASUREMENT OF DIELECTRIC CONSTANT\n</title>\n</top>\n")
    d = parse_trec_docs(docs)
    assert [(x.doc_id, x.text) for x in d] == [
        ("1", "compact memories have flexible capacities"),
        ("2", "an electronic analogue"),
    ]
    (q,) = parse_trec_topics(topics)
    assert (q.query_id, q.text) == ("1", "measurement of dielectric constant")


def test_vaswani_doc_without_docno(tmp_path):
    p = tmp_path / "doc-text.trec"
    p.write_text("<DOC>\n<DOCNO>1</DOCNO>\nfine\n</DOC>\n<DOC>\nno number\n</DOC>\n")
    with pytest.raises(FormatError, match=r":5: <DOC> without <DOCNO>"):
        parse_trec_docs(p)


def test_original_npl_format(tmp_path):
    p = tmp_path / "doc-text"
    p.write_text("1\ncompact memories have flexible\ncapacities\n   /\n2\nan electronic computer\n   /\n")
    assert parse_npl(p) == [("1", "compact memories have flexible capacities"), ("2", "an electronic computer")]
    r = tmp_path / "rlv-ass"
    r.write_text("1\n 1239 1502\n 4462\n   /\n2\n 7\n   /\n")
    assert npl_qrels(r) == {"1": {"1239": 1, "1502": 1, "4462": 1}, "2": {"7": 1}}


@pytest.mark.parametrize(
    ("name", "docs", "queries", "judged"), [("cranfield", 1400, 225, 225), ("vaswani", 11429, 93, 93)]
)
def test_real_collections_from_mirror(shared_datasets, tmp_path, name, docs, queries, judged):
    col = load_collection(dataset_spec(name, mirror=str(shared_datasets), cache_dir=str(tmp_path)))
    assert (len(col.docs), len(col.queries), len(col.qrels)) == (docs, queries, judged)
    qids = {q.query_id for q in col.queries}
    assert set(col.qrels) <= qids


def test_mirror_env_var_overrides_param(shared_datasets, tmp_path, monkeypatch):
    monkeypatch.setenv("LISTDISTILL_DATA_MIRROR", str(shared_datasets))
    col = load_collection(dataset_spec("cranfield", mirror="/nonexistent", cache_dir=str(tmp_path)))
    assert len(col.docs) == 1400


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match=r"dataset.name 'nope'"):
        load_collection(dataset_spec("nope", cache_dir=str(tmp_path)))


def test_download_path_unpacks_and_verifies_the_archive(shared_datasets, tmp_path, monkeypatch):
    """No mirror: the canonical archive is fetched (here from a file:// copy), unpacked, verified, cached."""
    import tarfile

    from listdistill.data import glasgow

    archive = tmp_path / "cran.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("cran.all.1400", "cran.qry", "cranqrel"):
            tar.add(shared_datasets / "cranfield" / name, arcname=f"cran/{name}")
    monkeypatch.setitem(glasgow.ARCHIVES, "cranfield", archive.as_uri())
    monkeypatch.delenv("LISTDISTILL_DATA_MIRROR", raising=False)
    spec = dataset_spec("cranfield", mirror=None, cache_dir=str(tmp_path / "cache"))
    col = load_collection(spec)
    assert len(col.docs) == 1400 and (tmp_path / "cache" / "cranfield" / ".complete").exists()
    archive.unlink()  # the second load uses the cache
    assert len(load_collection(spec).queries) == 225


def test_download_rejects_a_corrupted_file(shared_datasets, tmp_path, monkeypatch):
    import tarfile

    from listdistill.data import glasgow

    bad = tmp_path / "cranqrel"
    bad.write_text((shared_datasets / "cranfield" / "cranqrel").read_text().replace("1 184 2", "1 184 3", 1))
    archive = tmp_path / "cran.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(shared_datasets / "cranfield" / "cran.all.1400", arcname="cran.all.1400")
        tar.add(shared_datasets / "cranfield" / "cran.qry", arcname="cran.qry")
        tar.add(bad, arcname="cranqrel")
    monkeypatch.setitem(glasgow.ARCHIVES, "cranfield", archive.as_uri())
    monkeypatch.delenv("LISTDISTILL_DATA_MIRROR", raising=False)
    with pytest.raises(FormatError, match=r"cranqrel: md5 .* matches neither the distributed file's nor a known"):
        load_collection(dataset_spec("cranfield", mirror=None, cache_dir=str(tmp_path / "cache")))


def test_the_canonical_archive_is_accepted_and_the_mirror_copy_by_name(shared_datasets, tmp_path, monkeypatch):
    """The Glasgow archive's cran.all.1400 (md5 cc1259...) is one byte off the mirror's (a trailing tab on line 6):
    both load to the same collection; the mirror's is accepted as a named variant, noted in the collection."""
    import tarfile

    from listdistill.data import glasgow

    mirror_copy = shared_datasets / "cranfield" / "cran.all.1400"
    lines = mirror_copy.read_bytes().split(b"\n")
    assert lines[5] == b"brenckman,m.\t"
    canonical = tmp_path / "cran.all.1400"
    canonical.write_bytes(b"\n".join([*lines[:5], b"brenckman,m.", *lines[6:]]))
    assert glasgow.md5sum(canonical) == "cc125929881f34ccbbc00ad13c5d4291" == glasgow.MD5["cran.all.1400"]
    archive = tmp_path / "cran.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(canonical, arcname="cran/cran.all.1400")
        for name in ("cran.qry", "cranqrel"):
            tar.add(shared_datasets / "cranfield" / name, arcname=f"cran/{name}")
    monkeypatch.setitem(glasgow.ARCHIVES, "cranfield", archive.as_uri())
    monkeypatch.delenv("LISTDISTILL_DATA_MIRROR", raising=False)
    downloaded = load_collection(dataset_spec("cranfield", mirror=None, cache_dir=str(tmp_path / "cache")))
    assert "source_variants" not in downloaded.notes
    mirrored = load_collection(dataset_spec("cranfield", mirror=str(shared_datasets), cache_dir=str(tmp_path / "c2")))
    assert mirrored.notes["source_variants"] == (
        "cran.all.1400: the offline mirror's copy (a trailing tab on line 6; parses the same)"
    )
    assert (mirrored.docs, mirrored.queries, mirrored.qrels) == (downloaded.docs, downloaded.queries, downloaded.qrels)
