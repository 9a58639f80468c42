"""BEIR-format collections: a local folder, or a BEIR dataset by name when online.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/<split>.tsv`` (a header, then ``query-id  corpus-id  score``).

By name, the collection comes from the Hugging Face hub through ``datasets`` (``BeIR/<name>`` configs
``corpus`` and ``queries``, and ``BeIR/<name>-qrels``, as the paper's code loads it), cached under the cache
folder; if the hub is unreachable the official BEIR zip archive is downloaded instead. Either way a SHA-256 of
what was fetched is recorded on first download and checked on every later use.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
import zipfile
from pathlib import Path

from listdistill.data.checks import check_utf8, record_id, record_text
from listdistill.io import FormatError, Qrels
from listdistill.records import Doc, QrelsBuilder, Query, UniqueIds, jsonl_objects, parse_grade, qrels_lines

QRELS_COLUMNS = ("query-id", "corpus-id", "score")

BEIR_ARCHIVE = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"


def is_beir_folder(path: Path) -> bool:
    return (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file()


def beir_qrels(folder: Path, split: str) -> Path:
    return folder / "qrels" / f"{split}.tsv"


def read_beir_qrels(path: Path, notes: dict[str, str] | None = None) -> Qrels:
    """``qrels/<split>.tsv``: tab-separated ``query-id corpus-id score`` lines, the header recognised by its content
    (:func:`~listdistill.records.qrels_lines`); a pair judged again with the same score is counted in
    ``notes["repeated_judgments"]``, with another score it is an error."""
    check_utf8(path)
    judgments = QrelsBuilder()
    for where, (qid, did, score) in qrels_lines(path, QRELS_COLUMNS, sep="\t"):
        judgments.add(qid, did, parse_grade(score, "score", where), where, keys=("query-id", "corpus-id"))
    if notes is not None and judgments.repeated:
        notes["repeated_judgments"] = str(judgments.repeated)
    return judgments.qrels


def load_beir_folder(
    folder: Path, split: str = "test", notes: dict[str, str] | None = None
) -> tuple[list[Doc], list[Query], Qrels]:
    """Load a BEIR folder; only queries that have judgments in ``qrels/<split>.tsv`` are kept. A query id given
    twice is an error (the second text must not silently replace the first), as a doc id given twice is."""
    qrels_path = beir_qrels(folder, split)
    if not qrels_path.is_file():
        raise FileNotFoundError(f"{qrels_path}: missing BEIR qrels for split {split!r}")
    corpus, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    docs = [
        Doc(
            record_id(o, "_id", f"{corpus}:{n}"),
            record_text(o, "title", f"{corpus}:{n}", required=False),
            record_text(o, "text", f"{corpus}:{n}"),
        )
        for n, o in jsonl_objects(corpus)
    ]
    all_queries = {}
    ids = UniqueIds("query _id")
    for n, o in jsonl_objects(queries_file):
        qid = record_id(o, "_id", f"{queries_file}:{n}")
        ids.add(qid, f"{queries_file}:{n}")
        all_queries[qid] = Query(qid, record_text(o, "text", f"{queries_file}:{n}"))
    qrels = read_beir_qrels(qrels_path, notes)
    _check_qrels(qrels, all_queries, qrels_path)
    return docs, [all_queries[q] for q in qrels], qrels


def _check_qrels(qrels: Qrels, queries: dict[str, Query], where: Path | str) -> None:
    missing = sorted(q for q in qrels if q not in queries)
    if missing:
        raise FormatError(f"{where}: query id(s) {missing[:5]} judged in the qrels are not in the queries")


def load_beir_hub(
    corpus_repo: str, qrels_repo: str, split: str, cache_dir: Path
) -> tuple[list[Doc], list[Query], Qrels]:
    """Load through ``datasets`` from a hub repo id (or a local copy of one, which ``datasets`` also reads)."""
    import datasets

    kw = {"cache_dir": str(cache_dir / "hf")}
    corpus = datasets.load_dataset(corpus_repo, "corpus", split="corpus", **kw)
    queries_ds = datasets.load_dataset(corpus_repo, "queries", split="queries", **kw)
    qrels_ds = datasets.load_dataset(qrels_repo, split=split, **kw)
    docs = [
        Doc(record_id(r, "_id", f"{corpus_repo} corpus row {i}"), str(r.get("title") or ""), str(r["text"] or ""))
        for i, r in enumerate(corpus)
    ]
    all_queries = {}
    ids = UniqueIds("query _id")
    for i, r in enumerate(queries_ds):
        qid = record_id(r, "_id", f"{corpus_repo} queries row {i}")
        ids.add(qid, f"{corpus_repo} queries row {i}")
        all_queries[qid] = Query(qid, str(r["text"] or ""))
    judgments = QrelsBuilder()
    for i, r in enumerate(qrels_ds):
        where = f"{qrels_repo} {split} row {i}"
        score = r["score"]
        text = str(int(score)) if isinstance(score, float) and score.is_integer() else str(score)
        judgments.add(str(r["query-id"]), str(r["corpus-id"]), parse_grade(text, "score", where), where)
    qrels = judgments.qrels
    _check_qrels(qrels, all_queries, qrels_repo)
    return docs, [all_queries[q] for q in qrels], qrels


def _fingerprint(docs: list[Doc], queries: list[Query], qrels: Qrels) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(json.dumps([d.doc_id, d.title, d.text]).encode())
    for q in queries:
        h.update(json.dumps([q.query_id, q.text]).encode())
    h.update(json.dumps(qrels, sort_keys=True).encode())
    return h.hexdigest()


def _verify_or_record(checksum_file: Path, digest: str, what: str) -> None:
    if checksum_file.exists():
        expected = checksum_file.read_text().strip()
        if expected != digest:
            raise FormatError(f"{what}: SHA-256 {digest} differs from the one recorded in {checksum_file}")
    else:
        checksum_file.parent.mkdir(parents=True, exist_ok=True)
        checksum_file.write_text(digest + "\n")


def _download_archive(name: str, cache_dir: Path) -> Path:
    dest = cache_dir / "beir" / name
    if is_beir_folder(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = BEIR_ARCHIVE.format(name=name)
    archive = dest.parent / f"{name}.zip"
    tmp = archive.with_suffix(".part")
    with urllib.request.urlopen(url, timeout=120) as r, tmp.open("wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)
    tmp.replace(archive)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    _verify_or_record(dest.parent / f"{name}.zip.sha256", sha, str(archive))
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest.parent)
    return dest


def load_beir_by_name(name: str, split: str, cache_dir: Path) -> tuple[list[Doc], list[Query], Qrels]:
    """BEIR ``name`` from the hub through ``datasets``; the official archive if the hub fails."""
    try:
        loaded = load_beir_hub(f"BeIR/{name}", f"BeIR/{name}-qrels", split, cache_dir)
    except Exception as hub_error:  # noqa: BLE001 - any hub failure falls back to the archive
        try:
            loaded = load_beir_folder(_download_archive(name, cache_dir), split)
        except OSError as e:
            raise FileNotFoundError(
                f"BEIR dataset {name!r}: the hub ({hub_error}) and the archive ({e}) both failed; "
                "offline, pass a local BEIR folder instead"
            ) from e
    _verify_or_record(cache_dir / "beir" / f"{name}.{split}.sha256", _fingerprint(*loaded), f"BEIR {name}")
    return loaded
