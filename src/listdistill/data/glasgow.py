"""Cranfield and Vaswani (NPL) from the University of Glasgow IR group's test-collection page.

Files are looked for in a local mirror folder first (``<mirror>/cranfield``, ``<mirror>/vaswani``); when
absent they are downloaded from the canonical archives into a cache folder and verified.

Cranfield grade convention (documented in the README): the raw ``cranqrel`` grades run -1..4. Their meaning
is disputed (Cleverdon's original scheme has 1 = most relevant; ir_datasets reads 4 = complete answer and
-1 = of no interest). ``relevance="binary"`` (the default) maps grade >= 1 to 1 and -1 to 0, which is what the
baselines in the README use. ``relevance="graded"`` keeps ir_datasets' reading: gain = grade, -1 -> 0.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from listdistill.data.checks import check_utf8
from listdistill.io import FormatError, Qrels
from listdistill.records import Doc, QrelsBuilder, Query, parse_grade, qrels_lines, read_qrels

GLASGOW = "http://ir.dcs.gla.ac.uk/resources/test_collections"
ARCHIVES = {"cranfield": f"{GLASGOW}/cran/cran.tar.gz", "vaswani": f"{GLASGOW}/npl/npl.tar.gz"}

# md5 of the raw files as the canonical archives distribute them (Cranfield: cran.tar.gz; Vaswani: the TREC-format
# files of the offline mirror, ../shared/datasets/README.md).
MD5 = {
    "cran.all.1400": "cc125929881f34ccbbc00ad13c5d4291",
    "cran.qry": "da21a9df84d0ce3f66d0451c4d880903",
    "cranqrel": "c62b979aa6edfe65aa9dcbcf74f99c62",
    "doc-text.trec": "a059e713c50350e39999467c8c73b7c5",
    "query-text.trec": "3a624be2b0ef7c9534cf848891679bec",
    "qrels": "6acb6db9969da8b8c6c23c09551af8d9",
}
# Known copies that differ from the archive's file in bytes that do not change what is parsed, accepted by name.
KNOWN_VARIANTS = {
    "cran.all.1400": {
        "1eacaf8a2a50dd71dac28711bc4c007f": "the offline mirror's copy (a trailing tab on line 6; parses the same)",
    },
}
EXPECTED_COUNTS = {"cranfield": (1400, 225), "vaswani": (11429, 93)}


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_md5(path: Path) -> str | None:
    """Check ``path`` against the canonical archive's md5, or a known variant's; return the variant's name (None for
    the canonical file or a file without a pinned checksum)."""
    expected = MD5.get(path.name)
    if expected is None or (got := md5sum(path)) == expected:
        return None
    variant = KNOWN_VARIANTS.get(path.name, {}).get(got)
    if variant is None:
        known = ", ".join([expected, *KNOWN_VARIANTS.get(path.name, {})])
        raise FormatError(f"{path}: md5 {got} matches neither the distributed file's nor a known copy's ({known})")
    return variant


# --- Cranfield (SMART tagged text) -------------------------------------------------------------------


def _smart_records(path: Path) -> Iterator[tuple[str, dict[str, str], int]]:
    """Yield (``.I`` id, {field letter: text}, line number) from a SMART tagged file."""
    rid: str | None = None
    fields: dict[str, list[str]] = {}
    field: str | None = None
    start = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\n")
            m = re.match(r"^\.([A-Z])(?:\s+(.*))?$", line)
            if m and m.group(1) == "I":
                if rid is not None:
                    yield rid, {k: " ".join(v) for k, v in fields.items()}, start
                if not (m.group(2) or "").strip():
                    raise FormatError(f"{path}:{lineno}: '.I' without an id")
                rid, fields, field, start = m.group(2).strip(), {}, None, lineno
            elif m and rid is not None:
                field = m.group(1)
                fields.setdefault(field, [])
                if m.group(2):
                    fields[field].append(m.group(2))
            elif rid is None:
                if line.strip():
                    raise FormatError(f"{path}:{lineno}: text before the first '.I' record")
            elif field is not None:
                fields[field].append(line.strip())
    if rid is not None:
        yield rid, {k: " ".join(v) for k, v in fields.items()}, start


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def parse_cranfield_docs(path: Path) -> list[Doc]:
    """Parse ``cran.all.1400``. The body repeats the title at its start; that copy is removed."""
    docs = []
    for rid, fields, lineno in _smart_records(path):
        if not rid.isdigit():
            raise FormatError(f"{path}:{lineno}: document id {rid!r} is not a number")
        title = _clean(fields.get("T", ""))
        body = _clean(fields.get("W", ""))
        if title and body.startswith(title):
            body = body[len(title) :].strip()
        docs.append(Doc(doc_id=rid, title=title, text=body))
    return docs


def parse_cranfield_queries(path: Path) -> list[Query]:
    """Parse ``cran.qry``. Its ``.I`` numbers run 001..365 with gaps; qrels number queries 1..225 in file
    order, so queries are renumbered by position."""
    queries = []
    for pos, (_rid, fields, lineno) in enumerate(_smart_records(path), start=1):
        text = _clean(fields.get("W", ""))
        if not text:
            raise FormatError(f"{path}:{lineno}: query has no '.W' text")
        queries.append(Query(query_id=str(pos), text=text))
    return queries


def parse_cranfield_qrels(path: Path, relevance: str = "binary", notes: dict[str, str] | None = None) -> Qrels:
    """Parse ``cranqrel`` (``qid docid grade``). See the module docstring for ``relevance``; a pair judged twice
    is checked on the raw grades (:class:`~listdistill.records.QrelsBuilder`)."""
    if relevance not in ("binary", "graded"):
        raise ValueError(f"cranfield relevance must be 'binary' or 'graded', got {relevance!r}")
    judgments = QrelsBuilder()
    for where, (qid, did, grade) in qrels_lines(path, ("query_id", "doc_id", "grade")):
        judgments.add(qid, did, parse_grade(grade, "grade", where), where)
    _note_repeats(judgments, notes)
    return {
        qid: {did: (1 if g >= 1 else 0) if relevance == "binary" else max(g, 0) for did, g in judged.items()}
        for qid, judged in judgments.qrels.items()
    }


def _note_repeats(judgments: QrelsBuilder, notes: dict[str, str] | None) -> None:
    if notes is not None and judgments.repeated:
        notes["repeated_judgments"] = str(judgments.repeated)


# --- Vaswani (TREC SGML as in the mirror; the original NPL sentinel format from the archive) --------------


def parse_trec_docs(path: Path) -> list[Doc]:
    """Parse ``<DOC><DOCNO>id</DOCNO> text </DOC>`` records (Vaswani has no titles)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    docs = []
    for m in re.finditer(r"<DOC>(.*?)</DOC>", text, flags=re.S):
        body = m.group(1)
        no = re.search(r"<DOCNO>\s*(.*?)\s*</DOCNO>", body, flags=re.S)
        if no is None:
            lineno = text.count("\n", 0, m.start()) + 1
            raise FormatError(f"{path}:{lineno}: <DOC> without <DOCNO>")
        docs.append(Doc(doc_id=no.group(1), title="", text=_clean(body[no.end() :])))
    if not docs:
        raise FormatError(f"{path}: no <DOC> records found")
    return docs


def parse_trec_topics(path: Path) -> list[Query]:
    """Parse ``<top><num>id</num><title>text</title></top>`` topics."""
    text = path.read_text(encoding="utf-8", errors="replace")
    queries = []
    for m in re.finditer(r"<top>(.*?)</top>", text, flags=re.S):
        num = re.search(r"<num>\s*(?:Number:)?\s*(\S+?)\s*</num>", m.group(1), flags=re.S)
        title = re.search(r"<title>(.*?)(?:</title>|$)", m.group(1), flags=re.S)
        if num is None or title is None:
            lineno = text.count("\n", 0, m.start()) + 1
            raise FormatError(f"{path}:{lineno}: topic without <num> or <title>")
        queries.append(Query(query_id=num.group(1), text=_clean(title.group(1)).lower()))
    if not queries:
        raise FormatError(f"{path}: no <top> topics found")
    return queries


def _sentinel_blocks(path: Path) -> Iterator[tuple[list[str], int]]:
    block: list[str] = []
    start = 1
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip() == "/":
                if block:
                    yield block, start
                block, start = [], lineno + 1
            elif line.strip():
                block.append(line.strip())
    if block:
        yield block, start


def parse_npl(path: Path) -> list[tuple[str, str]]:
    """Parse the original NPL files (``doc-text``, ``query-text``, ``rlv-ass``): an id line, then text
    lines, then a line holding only ``/``. Returns (id, joined text)."""
    out = []
    for block, lineno in _sentinel_blocks(path):
        if not block[0].isdigit():
            raise FormatError(f"{path}:{lineno}: expected a numeric id, got {block[0]!r}")
        out.append((block[0], " ".join(block[1:])))
    return out


def npl_qrels(path: Path, notes: dict[str, str] | None = None) -> Qrels:
    """``rlv-ass``: a query id, then the ids of its relevant documents (a document listed twice is a note)."""
    judgments = QrelsBuilder()
    for qid, text in parse_npl(path):
        for did in text.split():
            judgments.add(qid, did, 1, f"{path} (query {qid})")
    _note_repeats(judgments, notes)
    return judgments.qrels


# --- locating, downloading ------------------------------------------------------------------------------


def _download(name: str, cache_dir: Path) -> Path:
    """Download and unpack the canonical archive for ``name`` into ``cache_dir/name`` (once)."""
    dest = cache_dir / name
    marker = dest / ".complete"
    if marker.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    url = ARCHIVES[name]
    archive = dest / Path(url).name
    tmp = archive.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, tmp.open("wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
    except OSError as e:
        raise FileNotFoundError(
            f"{name}: no local copy found and the download of {url} failed ({e}). Put the raw files in "
            f"<mirror>/{name}/ (see the README) or set LISTDISTILL_DATA_MIRROR."
        ) from e
    tmp.replace(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    for p in dest.rglob("*"):
        if p.is_file() and p.parent != dest:
            p.replace(dest / p.name)
    marker.touch()
    return dest


def glasgow_folder(name: str, mirror: Path | None, cache_dir: Path) -> Path:
    """The folder holding ``name``'s raw files: the mirror's, else the downloaded archive's."""
    folder = mirror / name if mirror is not None else None
    if folder is None or not folder.is_dir():
        folder = _download(name, cache_dir)
    return folder


def glasgow_files(name: str, folder: Path) -> tuple[Path, Path, Path]:
    """(corpus, queries, qrels) files of ``name`` in ``folder`` (Vaswani: the TREC layout or the NPL one)."""
    if name == "cranfield":
        names = ("cran.all.1400", "cran.qry", "cranqrel")
    elif (folder / "doc-text.trec").is_file():
        names = ("doc-text.trec", "query-text.trec", "qrels")
    else:
        names = ("doc-text", "query-text", "rlv-ass")
    corpus, queries, qrels = (folder / n for n in names)
    return corpus, queries, qrels


def load_glasgow(
    name: str, mirror: Path | None, cache_dir: Path, relevance: str = "binary", notes: dict[str, str] | None = None
) -> tuple[list[Doc], list[Query], Qrels]:
    """Load ``name`` (its raw files verified: UTF-8, then md5); ``notes`` gets the known variant of a file that is
    not the canonical archive's (``source_variants``) and repeated judgments."""
    folder = glasgow_folder(name, mirror, cache_dir)
    files = glasgow_files(name, folder)
    variants = []
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing {name.capitalize()} file")
        check_utf8(p)  # first: a stray byte is named with its line, not as an md5 mismatch
        if (variant := verify_md5(p)) is not None:
            variants.append(f"{p.name}: {variant}")
    if notes is not None and variants:
        notes["source_variants"] = "; ".join(variants)
    if name == "cranfield":
        docs = parse_cranfield_docs(files[0])
        queries = parse_cranfield_queries(files[1])
        qrels = parse_cranfield_qrels(files[2], relevance, notes)
    elif files[0].name == "doc-text.trec":
        docs = parse_trec_docs(files[0])
        queries = parse_trec_topics(files[1])
        qrels = read_qrels(files[2], queries, notes=notes)
    else:  # the original NPL archive layout
        docs = [Doc(i, "", _clean(t)) for i, t in parse_npl(files[0])]
        queries = [Query(i, _clean(t).lower()) for i, t in parse_npl(files[1])]
        qrels = npl_qrels(files[2], notes)
    n_docs, n_queries = EXPECTED_COUNTS[name]
    if (len(docs), len(queries)) != (n_docs, n_queries):
        raise FormatError(
            f"{folder}: expected {n_docs} documents and {n_queries} queries for {name}, "
            f"parsed {len(docs)} and {len(queries)}"
        )
    return docs, queries, qrels
