"""Per-stage cost records (listdistill.cost; a stage's --cost): written on success only, never half-written."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, write_params

from listdistill.cost import write_cost

KEYS = {"cpu_s", "wall_s", "peak_rss_mb", "threads"}


def test_process_cost_measures_this_process():
    # a fresh process: the test runner's own record adds its children's CPU, which may run side by side (e.g. the
    # generate stage's workers) and so exceed its wall time
    code = (
        "from listdistill.cost import process_cost; import json; sum(i * i for i in range(2_000_000)); "
        "print(json.dumps(process_cost()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cost = json.loads(out.stdout.splitlines()[-1])
    assert set(cost) == KEYS
    assert cost["cpu_s"] > 0 and cost["wall_s"] >= cost["cpu_s"] / cost["threads"] - 1
    assert cost["peak_rss_mb"] > 50 and cost["threads"] >= 1  # torch alone takes more


def test_write_cost_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "cost" / "stage.json"
    written = write_cost(path, {"stage": "x"})
    assert json.loads(path.read_text()) == written and written["stage"] == "x"
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage.json"]  # no temporary file left


def corpus(folder):
    folder.mkdir()
    docs = [{"_id": f"d{i}", "title": "", "text": f"passage {i} about wings and lift"} for i in range(4)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "wings"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    return folder


def stage(*args, cwd):
    return subprocess.run([sys.executable, "-m", "stages.prepare", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=None)  # fmt: skip


def test_a_stage_writes_its_cost_when_it_succeeds_and_not_when_it_fails(tmp_path):
    params = write_params(tmp_path, {"dataset.name": str(corpus(tmp_path / "beir"))})
    ok = stage("--params", params, "--cost", tmp_path / "cost.json", "--out", tmp_path / "prepared",
               "--stats", tmp_path / "prepare.json", cwd=ROOT)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert set(cost) == KEYS and cost["cpu_s"] > 0 and cost["wall_s"] > 0
    bad = write_params(tmp_path, {"dataset.name": str(tmp_path / "missing")}, "bad.yaml")
    failed = stage("--params", bad, "--cost", tmp_path / "failed.json", "--out", tmp_path / "p2",
                   "--stats", tmp_path / "p2.json", cwd=ROOT)  # fmt: skip
    assert failed.returncode == 1 and "Error:" in failed.stderr
    assert not (tmp_path / "failed.json").exists()
