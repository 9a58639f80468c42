"""The real pipeline end to end with DVC on a small slice (the smoke configuration), and the experiment
workflow: which stages a param change reruns, and `dvc exp run -S loss=...`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

# The smoke configuration, also documented in the README: a few passages per type, a few training steps.
SMOKE = {
    "prepare.pool_size": 24,
    "generate.types": ["questions", "keywords", "sentences"],
    "generate.passages_per_type": 6,
    "generate.max_new_tokens": 24,
    "query_mix": ["questions", "keywords", "sentences"],
    "train.max_train_queries": 16,
    "train.max_dev_queries": 8,
    "train.batch_size": 4,
    "train.list_length": 4,
    "train.max_steps": 2,
}


def set_param(params: dict, dotted: str, value) -> None:
    node = params
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[p]
    assert last in node, f"params.yaml has no {dotted}"
    node[last] = value


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def copy_repo(repo: Path, sets: dict, before_commit=None) -> dict[str, str]:
    """A git repository at ``repo`` holding the project's files (no data, models, metrics or lock) with the
    ``sets`` applied to params.yaml, reproduced with ``dvc repro`` and committed; returns the environment to run
    DVC in. ``before_commit(repo)`` may add files (a corpus) before the first commit."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    for f in files:
        if f.startswith(("data/", "models/", "metrics/")) or f == "dvc.lock" or not (ROOT / f).is_file():
            continue
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, repo / f)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in sets.items():
        set_param(params, key, value)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(repo.parent / "dvc-site"),
        "HF_HUB_OFFLINE": "1",
        # the GGUF conversion, shared across runs
        "LISTDISTILL_MODEL_CACHE": os.environ.get("LISTDISTILL_MODEL_CACHE", str(ROOT / ".cache" / "models")),
        "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{repo}",  # the copied code, not an installed one
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    if before_commit is not None:
        before_commit(repo)
    sh(["git", "init", "-q"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "smoke"], repo, env)
    sh(["dvc", "repro"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "repro"], repo, env)
    return env


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory, shared_datasets):
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    env = copy_repo(repo, {**SMOKE, "dataset.mirror": str(shared_datasets)})
    return repo, env


def changed_stages(repo: Path, env: dict[str, str]) -> set[str]:
    return set(json.loads(sh(["dvc", "status", "--json"], repo, env) or "{}"))


@pytest.mark.slow
def test_smoke_pipeline_produces_a_fine_tuned_student(smoke_repo):
    repo, env = smoke_repo
    m = json.loads((repo / "metrics" / "eval.json").read_text())
    for system in ("bm25", "student_zero_shot", "hybrid_rrf", "student"):
        assert set(m[system]) == {"nDCG@10", "R@100", "RR@10", "R@20"}
        assert 0.05 < m[system]["nDCG@10"] <= 1.0
    assert 0.0 < m["student_vs_zero_shot_p"]["nDCG@10"] <= 1.0
    assert changed_stages(repo, env) == set()  # the lock matches: everything is up to date
    from sentence_transformers import SentenceTransformer

    emb = SentenceTransformer(str(repo / "models" / "student"), device="cpu").encode(["a wing in a slipstream"])
    assert emb.shape == (1, 384)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "value", "stale"),
    [("loss", "infonce", {"train"}), ("query_mix", ["questions"], {"mix", "train"}), ("train.lr", 1e-4, {"train"})],
)
def test_loss_or_mix_change_reruns_only_train(smoke_repo, key, value, stale):
    repo, env = smoke_repo
    original = (repo / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        set_param(params, key, value)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert changed_stages(repo, env) == stale  # evaluate follows train's new output; mix is a copy
    finally:
        (repo / "params.yaml").write_text(original)


@pytest.mark.slow
def test_adding_a_type_outside_the_mix_generates_it_and_does_not_retrain(smoke_repo):
    repo, env = smoke_repo
    original = (repo / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        params["generate"]["types"] = [*params["generate"]["types"], "titles"]
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        changed = changed_stages(repo, env)
        assert "generate" in changed  # one stage generates every type
        assert all(s.endswith("@titles") or s in ("generate", "mix") for s in changed), changed
        cache = {t: (repo / ".cache" / "generate" / f"{t}.jsonl").read_text() for t in ("questions", "keywords")}
        out = sh(["dvc", "repro"], repo, env)
        assert "Running stage 'generate'" in out and "Running stage 'mine@titles'" in out
        assert "Running stage 'mix'" in out and "Running stage 'mine@questions'" not in out
        # the types already generated came from the batch cache: nothing generated again, the same outputs
        assert {t: (repo / ".cache" / "generate" / f"{t}.jsonl").read_text() for t in cache} == cache
        assert "Running stage 'train'" not in out, "a type outside query_mix retrained the student"
        assert (repo / "data" / "scored" / "titles" / "train.jsonl").is_file()
        assert not (repo / "data" / "mix" / "titles").exists()
    finally:  # back to the committed repro: params, lock, .gitignore entries, the new type's outputs
        sh(["git", "reset", "-q", "--hard"], repo, env)
        sh(["git", "clean", "-fdq"], repo, env)
        sh(["dvc", "checkout", "-f"], repo, env)


@pytest.mark.slow
def test_dvc_exp_run_with_another_loss(smoke_repo):
    repo, env = smoke_repo
    out = sh(["dvc", "exp", "run", "-S", "loss=infonce", "-n", "smoke-infonce"], repo, env)
    assert "Running stage 'train'" in out and "Running stage 'generate" not in out
    table = json.loads(sh(["dvc", "exp", "show", "--json"], repo, env))
    assert "smoke-infonce" in json.dumps(table)
