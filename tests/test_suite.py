"""bench/suite.py: the pipeline on two collections and two seeds (tiny params, no language model), one table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# No generator (sentences only) and two training steps: a suite run of the real stages in about a minute a project.
TINY = [
    "generate.types=[sentences]",
    "query_mix=[sentences]",
    "train.max_train_queries=16",
    "train.max_dev_queries=8",
    "train.batch_size=4",
    "train.list_length=4",
    "train.max_steps=2",
]


def tiny_beir(folder, source):
    """A BEIR folder of MED's first 60 documents and the queries judged on them."""
    docs = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()[:60]]
    ids = {d["_id"] for d in docs}
    lines = (source / "qrels" / "test.tsv").read_text().splitlines()
    judged = [ln for ln in lines[1:] if ln.split("\t")[1] in ids]
    qids = {ln.split("\t")[0] for ln in judged}
    queries = [q for q in map(json.loads, (source / "queries.jsonl").read_text().splitlines()) if q["_id"] in qids]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("\n".join([lines[0], *judged]) + "\n")
    return folder


@pytest.mark.slow
def test_suite_runs_two_collections_and_seeds_and_reuses_the_index(tmp_path, shared_datasets):
    med = tiny_beir(tmp_path / "med60", shared_datasets / "med")
    out = tmp_path / "suite" / "tiny"
    sets = [a for s in TINY for a in ("--set", s)]
    cmd = [sys.executable, "bench/suite.py", "--out", str(out), "--collections", f"adi,{med}", "--seeds", "1,2",
           "--jobs", "2", *sets]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    table = json.loads((out / "suite.json").read_text())
    rows = {r["collection"]: r for r in table["rows"]}
    assert set(rows) == {"adi", "med60"} and table["overrides"] == TINY
    for r in rows.values():
        assert r["seeds"] == [1, 2] and len(r["students"]) == len(r["p_per_seed"]) == 2
        assert r["student_mean"] == pytest.approx(sum(r["students"]) / 2, abs=1e-4)
        assert r["gain"] == pytest.approx(r["student_mean"] - r["zero_shot"], abs=1e-4)
        assert 0 < r["zero_shot"] <= 1 and 0 < r["bm25"] <= 1 and 0 <= r["p_mean"] <= 1 and r["cpu_min"] > 0
        assert 0 < r["pool_share"] <= 1
    assert table["mean"]["gain"] == pytest.approx(sum(r["gain"] for r in rows.values()) / 2, abs=1e-4)
    md = (out / "suite.md").read_text()
    assert "| adi |" in md and "| med60 |" in md and "| **mean** |" in md
    for name in ("adi", "med60"):  # the second seed restored the index built for the first (DVC's run cache)
        log = (out / name / "seed2" / "repro.log").read_text()
        assert "Stage 'index' is cached - skipping run" in log and "Running stage 'train'" in log
        first = json.loads((out / name / "seed1" / "metrics" / "eval.json").read_text())
        second = json.loads((out / name / "seed2" / "metrics" / "eval.json").read_text())
        assert first["student_zero_shot"] == second["student_zero_shot"]  # the zero-shot student reads no seed
    rebuilt = subprocess.run([*cmd, "--table-only"], cwd=ROOT, capture_output=True, text=True)
    assert rebuilt.returncode == 0 and json.loads((out / "suite.json").read_text()) == table


def test_a_project_runs_its_own_code_snapshot_even_from_a_relative_out(tmp_path, monkeypatch):
    """The stages run inside the project folder, so a relative PYTHONPATH would name nothing there and Python would
    import the installed listdistill instead of the project's snapshot: the path must be absolute."""
    from bench.suite import Run, repro_env

    monkeypatch.chdir(tmp_path)
    env = repro_env(Run("med", 1, tmp_path.relative_to(tmp_path) / "runs" / "med" / "seed1"), threads=1)
    assert env["PYTHONPATH"] == str(tmp_path / "runs" / "med" / "seed1" / "src")
    assert env["DVC_SITE_CACHE_DIR"] == str(tmp_path / "runs" / "med" / "seed1" / ".dvc" / "site-cache")
    assert env["OMP_NUM_THREADS"] == "1"
