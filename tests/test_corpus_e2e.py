"""Your own corpus, no labels, end to end with DVC: a folder of text, Markdown and HTML files (ADI's abstracts,
written by the test), cut into passages, the smoke configuration, and the label-free evaluation; then what the
user gets: the model card loaded back by sentence-transformers, the plots page of `dvc plots show` (and, where
Chromium is installed, its screenshot)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from listdistill.records import read_docs, read_generated, read_scored
from tests.conftest import ROOT
from tests.test_pipeline_e2e import SMOKE, copy_repo, sh

VEGA = ".cache/vega/node_modules/vega-embed/build/vega-embed.min.js"  # `make plots` installs it

CORPUS_SMOKE = {
    **SMOKE,
    "dataset.name": "corpus",
    "dataset.chunk_tokens": 64,
    "dataset.chunk_overlap": 16,
    "proxy.heldout": 12,
    "proxy.types": ["questions"],
}


def write_docs(repo: Path, corpus: Path) -> None:
    """ADI's 82 abstracts as files: .txt, .md and .html in turn, in two folders."""
    for i, line in enumerate(corpus.read_text(encoding="utf-8").splitlines()):
        d = json.loads(line)
        folder = repo / "corpus" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        kind = ("txt", "md", "html")[i % 3]
        if kind == "html":
            body = f"<html><head><title>{d['title']}</title><style>p {{}}</style></head><body><p>{d['text']}</p>"
            (folder / f"{d['_id']}.html").write_text(body + "</body></html>", encoding="utf-8")
        else:
            (folder / f"{d['_id']}.{kind}").write_text(f"{d['title']}.\n\n{d['text']}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def corpus_repo(tmp_path_factory, shared_datasets):
    repo = tmp_path_factory.mktemp("corpus") / "repo"
    env = copy_repo(repo, CORPUS_SMOKE, lambda r: write_docs(r, shared_datasets / "adi" / "corpus.jsonl"))
    return repo, env


@pytest.mark.slow
def test_a_folder_of_files_gives_a_student_and_a_label_free_evaluation(corpus_repo):
    repo, env = corpus_repo
    info = json.loads((repo / "data" / "prepared" / "collection.json").read_text())
    assert info["evaluation"] == "label-free" and info["chunked"] and info["documents"] == 82
    m = json.loads((repo / "metrics" / "eval.json").read_text())
    assert m["evaluation"]["kind"] == "label-free"
    assert m["evaluation"]["what"] == "agreement with the teacher on synthetic queries, not relevance"
    assert "teacher" not in m  # its own labels: not scored
    for system in ("bm25", "student_zero_shot", "hybrid_rrf", "student"):
        assert set(m[system]) == {"nDCG@10", "R@100", "source_RR@10"}
        assert 0.0 < m[system]["source_RR@10"] <= 1.0
    assert set(m["student_vs_zero_shot_p"]) == {"nDCG@10", "R@100", "source_RR@10"}
    assert sh(["dvc", "status", "--json"], repo, env).strip() in ("{}", "")


@pytest.mark.slow
def test_no_heldout_passage_is_the_source_of_a_training_or_dev_query(corpus_repo):
    repo, _ = corpus_repo
    heldout = {d.doc_id for d in read_docs(repo / "data" / "prepared" / "heldout.jsonl")}
    pool = {d.doc_id for d in read_docs(repo / "data" / "prepared" / "pool.jsonl")}
    assert len(heldout) >= 12 and not heldout & pool
    documents = {h.rsplit("#", 1)[0] for h in heldout}  # held out whole: no passage of theirs seeds training
    assert not {p.rsplit("#", 1)[0] for p in pool} & documents
    sources = {q.source_doc_id for f in (repo / "data" / "generated").glob("*.jsonl") for q in read_generated(f)}
    scored = {q.source_doc_id for f in (repo / "data" / "scored").rglob("*.jsonl") for q in read_scored(f)}
    assert sources and scored and not (sources | scored) & heldout
    proxy = {q.source_doc_id for q in read_generated(repo / "data" / "proxy" / "generated.jsonl")}
    assert proxy and proxy <= heldout


@pytest.mark.slow
def test_the_model_card_is_loaded_back_by_sentence_transformers(corpus_repo):
    from sentence_transformers import SentenceTransformer

    repo, _ = corpus_repo
    folder = repo / "models" / "student"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: sentence-transformers\n")
    assert "agreement with the teacher on synthetic queries, not relevance" in card
    assert "![Each system's mean" in card and (folder / "plots" / "systems.png").is_file()
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.encode_query(["library automation"]).shape == (1, 384)
    assert model.encode_document(["an abstract"]).shape == (1, 384)


@pytest.mark.slow
def test_dvc_plots_show_writes_a_page_that_chromium_draws(corpus_repo, tmp_path):
    repo, env = corpus_repo
    sh(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo, env)
    page = tmp_path / "plots" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "Per-system mean and 95% bootstrap interval" in html and "systems.png" in html
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the screenshot check is skipped")
    png = screenshot(chromium, page, tmp_path / "shot.png")
    images_only = colourful_pixels(png)
    assert images_only > 5000  # the PNG plots are drawn (a blank page has none); Vega's need its scripts (a CDN)
    if not (ROOT / VEGA).is_file():
        pytest.skip(f"{VEGA} is not installed (make plots): the offline Vega page is not checked")
    (repo / ".cache").mkdir(exist_ok=True)
    (repo / ".cache" / "vega").symlink_to(ROOT / ".cache" / "vega")
    sh(["dvc", "plots", "show", "--html-template", "docs/plots_page.html", "-o", "dvc_plots"], repo, env)
    drawn = colourful_pixels(screenshot(chromium, repo / "dvc_plots" / "index.html", tmp_path / "vega.png"))
    assert drawn > images_only + 5000  # the bars with intervals and the sorted differences, drawn by Vega


def screenshot(chromium: str, page: Path, out: Path) -> Path:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]  # fmt: skip
    cmd = [chromium, *flags, "--virtual-time-budget=10000", f"--screenshot={out}", "--window-size=1400,3200",
           page.as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return out


def colourful_pixels(png: Path) -> int:
    """Pixels whose colour channels differ by more than 40 (bars), not greys (text, background)."""
    import matplotlib.image

    img = matplotlib.image.imread(str(png))[..., :3]  # (H, W, 3) in [0, 1]
    return int(((img.max(axis=2) - img.min(axis=2)) > 40 / 255).sum())
