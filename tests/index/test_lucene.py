"""The Lucene index is checked before it is moved into place: a partial build fails loudly, the old one stays."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from listdistill.errors import user_message
from listdistill.index import lucene
from listdistill.records import Doc

DOCS = [
    Doc("d1", "Solar", "photovoltaic cells convert light into electricity"),
    Doc("d2", "", "wind turbines convert kinetic energy"),
    Doc("d3", "Hydro", "dams store water"),
    Doc("d4", "", "   "),  # blank: Anserini skips it, and the check knows
    Doc("d5", "", "tidal power from the moon"),
]


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return lucene.build_index(DOCS, tmp_path_factory.mktemp("idx") / "lucene")


def test_build_checks_and_places_the_index(built):
    assert lucene.index_doc_count(built) == 4 == lucene.indexable(DOCS)
    assert sorted(p.name for p in built.parent.iterdir()) == ["lucene"]  # no staging folder left
    hits = lucene.BM25(built, 0.9, 0.4).search(["q"], ["solar electricity"], k=2)
    assert next(iter(hits["q"])) == "d1"


def test_partial_build_raises_and_keeps_the_previous_index(built, tmp_path, monkeypatch):
    """Lucene indexes part of the corpus and returns normally (as on a full disk): the check catches it."""
    index = shutil.copytree(built, tmp_path / "lucene")
    before = snapshot(tmp_path)
    real_autoclass = lucene.autoclass

    class HalfIndexer:
        @staticmethod
        def main(args):
            source = args[args.index("-input") + 1]
            path = Path(source) / "docs.jsonl"
            path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
            real_autoclass("io.anserini.index.IndexCollection").main(args)

    monkeypatch.setattr(
        lucene, "autoclass", lambda n: HalfIndexer if n.endswith("IndexCollection") else real_autoclass(n)
    )
    with pytest.raises(lucene.IndexBuildError) as info:
        lucene.build_index(DOCS + [Doc("d6", "", "more text")], index)
    assert user_message(info.value).startswith(f"{index}: the Lucene index holds 2 documents, expected 5;")
    assert snapshot(tmp_path) == before


def test_no_index_written(tmp_path, monkeypatch):
    monkeypatch.setattr(lucene, "autoclass", lambda n: type("Noop", (), {"main": staticmethod(lambda a: None)}))
    with pytest.raises(lucene.IndexBuildError, match="Lucene wrote no index"):
        lucene.build_index(DOCS, tmp_path / "lucene")
    assert list(tmp_path.iterdir()) == []


def test_unreadable_index(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "segments_1").write_bytes(b"not lucene")
    with pytest.raises(lucene.IndexBuildError, match=r"junk: not a readable Lucene index"):
        lucene.index_doc_count(tmp_path / "junk")


def test_blank_corpus(tmp_path):
    with pytest.raises(lucene.IndexBuildError, match="no document has text to index"):
        lucene.build_index([Doc("d1", "", " ")], tmp_path / "lucene")


@pytest.mark.parametrize("previous", [True, False])
def test_real_full_disk(built, tmp_path, previous):
    """On a 1 MiB tmpfs (root only) Lucene runs out of space: the error is raised, the old index kept."""
    if shutil.which("mount") is None:
        pytest.skip("no mount")
    root = tmp_path / "tiny"
    root.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        index = shutil.copytree(built, root / "lucene") if previous else root / "lucene"
        before = snapshot(root)
        big = [Doc(f"b{i}", "", " ".join(f"w{i}x{j}" for j in range(300))) for i in range(400)]
        with pytest.raises((lucene.IndexBuildError, OSError)) as info:  # in Lucene, or writing its input
            lucene.build_index(big, index)
        message = user_message(info.value)
        full = f"No space left on device on {root} (tmpfs) while writing {index}"
        assert message.startswith(full) or "documents, expected" in message
        assert snapshot(root) == before
    finally:
        subprocess.run(["umount", str(root)], check=False)
