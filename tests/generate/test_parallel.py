"""Every type in one run (listdistill.generate.parallel): how the CPU is shared out, the same outputs whatever the
number of workers, the batch cache that spares a rerun the unchanged types, and errors raised before any worker
starts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import write_params

from listdistill.config import load_params
from listdistill.errors import StageError
from listdistill.generate.catalog import UnknownQueryTypeError
from listdistill.generate.parallel import MALLOC_TUNABLES, TypeOutputs, generate_types, run_in_workers, worker_plan

POOL = [
    ("7", "flutter of swept wings", "wind tunnel tests of swept wings show that flutter speed falls as sweep grows."),
    ("12", "heat transfer to a rotating disk", "the heat transfer from a rotating disk to the air is computed."),
    ("31", "boundary layer suction", "suction through a porous wall delays transition of the boundary layer."),
]
# the default backend (ctranslate2, int8) on three passages, a few tokens each
SETS = {"generate.passages_per_type": 3, "generate.max_new_tokens": 8, "generate.samples_per_passage": 2,
        "generate.batch_size": 2, "generate.passage_max_tokens": 48, "generate.num_examples": 1}  # fmt: skip


@pytest.mark.parametrize(
    ("requested", "types", "device", "threads", "memory_gb", "plan"),
    [
        (0, 6, "cpu", 2, 20, (2, 1)),  # one worker per thread
        (0, 6, "cpu", 16, 64, (6, 2)),  # at most one per type; the threads shared out
        (0, 6, "cpu", 16, 10, (3, 5)),  # at most one per 3 GB of memory
        (0, 6, "cpu", 2, 5, (1, 2)),  # too little memory for two
        (0, 6, "cpu", 1, 20, (1, 1)),  # OMP_NUM_THREADS=1: one type at a time
        (0, 1, "cpu", 4, 20, (1, 4)),  # one type: all the threads
        (3, 6, "cpu", 2, 1, (3, 1)),  # asked for: granted, at least one thread each
        (1, 6, "cpu", 8, 20, (1, 8)),
        (0, 6, "cuda", 8, 20, (1, 8)),  # one GPU: one type at a time
        (0, 0, "cpu", 2, 20, (1, 2)),  # only types cut from the passages
    ],
)
def test_worker_plan(requested, types, device, threads, memory_gb, plan):
    assert worker_plan(requested, types, device, threads, memory_gb) == plan


def _pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"doc_id": d, "title": t, "text": x}) + "\n" for d, t, x in POOL))
    return path


def _configs(tmp_path: Path, types: list[str]):
    params = load_params(write_params(tmp_path, SETS))
    return [params.to_generate(t) for t in types]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_two_workers_write_what_one_writes_and_the_cache_spares_unchanged_types(tmp_path):
    pool = _pool(tmp_path)
    types = ["questions", "keywords", "sentences"]
    runs = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        outputs = TypeOutputs(root / "out", root / "stats", root / "samples")
        stats = generate_types(_configs(tmp_path, types), pool, outputs, root / "ckpt", workers, threads=2,
                               progress=False)  # fmt: skip
        assert list(stats) == types and stats["questions"]["generated"] == 6  # 3 passages x 2 samples
        runs[workers] = _files(root / "out") | _files(root / "stats") | _files(root / "samples")
    assert runs[1] == runs[2] and "dropped/keywords.jsonl" in runs[1] and "sentences.tsv" in runs[1]
    ckpt = tmp_path / "w1" / "ckpt"
    lines = {t: (ckpt / f"{t}.jsonl").read_text() for t in ("questions", "keywords")}
    assert all(len(v.splitlines()) == 2 for v in lines.values())  # 2 batches each, kept as the cache
    # a type added: the others' batches come from the cache, their outputs are the same
    root = tmp_path / "w1"
    outputs = TypeOutputs(root / "again", root / "stats2")
    generate_types(_configs(tmp_path, [*types, "titles"]), pool, outputs, ckpt, 2, threads=2, progress=False)
    assert {t: (ckpt / f"{t}.jsonl").read_text() for t in lines} == lines  # nothing generated again
    assert (root / "again" / "questions.jsonl").read_bytes() == (root / "out" / "questions.jsonl").read_bytes()
    assert len((ckpt / "titles.jsonl").read_text().splitlines()) == 2


def test_bad_types_and_pools_fail_before_any_worker_starts(tmp_path):
    pool = _pool(tmp_path)
    outputs = TypeOutputs(tmp_path / "out", tmp_path / "stats")
    with pytest.raises(UnknownQueryTypeError, match="unknown query type 'faqs'"):
        generate_types(_configs(tmp_path, ["questions", "faqs"]), pool, outputs, workers=2, progress=False)
    with pytest.raises(ValueError, match=r"a type is listed twice: \['claims', 'claims'\]"):
        generate_types(_configs(tmp_path, ["claims", "claims"]), pool, outputs, workers=2, progress=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.jsonl: expected at least one passage"):
        generate_types(_configs(tmp_path, ["questions"]), empty, outputs, workers=2, progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "stats").exists()  # failed before staging


def test_a_failing_worker_fails_the_run_and_writes_nothing(tmp_path):
    pool = _pool(tmp_path)
    params = load_params(write_params(tmp_path, {**SETS, "generate.model": str(tmp_path / "absent.gguf")}))
    configs = [params.to_generate(t) for t in ("questions", "claims", "sentences")]
    outputs = TypeOutputs(tmp_path / "out", tmp_path / "stats")
    with pytest.raises(FileNotFoundError, match="absent.gguf"):
        generate_types(configs, pool, outputs, workers=2, threads=2, progress=False)
    assert not any((tmp_path / "out").rglob("*.jsonl")) and not any((tmp_path / "stats").rglob("*.json"))


@pytest.mark.slow
def test_workers_on_an_empty_model_cache_convert_the_generator_once(tmp_path, monkeypatch):
    """A fresh machine: both workers need the GGUF materialised and converted to CTranslate2 at the same time."""
    cache = tmp_path / "models"
    monkeypatch.setenv("LISTDISTILL_MODEL_CACHE", str(cache))  # the spawned workers inherit it
    outputs = TypeOutputs(tmp_path / "out", tmp_path / "stats")
    configs = _configs(tmp_path, ["questions", "claims"])
    stats = generate_types(configs, _pool(tmp_path), outputs, workers=2, threads=2, progress=False)
    assert [s["generated"] for s in stats.values()] == [6, 6]
    folders = sorted("ct2" if "-ct2-" in p.name else "gguf" for p in cache.iterdir() if p.is_dir())
    assert folders == ["ct2", "gguf"]  # one materialised folder, one conversion; no temporary folder left


def _worker_view(name: str) -> tuple[str, str | None, int]:
    import torch

    return name, os.environ.get("GLIBC_TUNABLES"), torch.get_num_threads()


def test_workers_start_with_the_malloc_settings_and_their_threads(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")  # a user's own: kept, after ours
    seen = sorted(run_in_workers(_worker_view, ["a", "b", "c"], workers=2, threads=1))
    assert seen == [(n, f"{MALLOC_TUNABLES}:glibc.malloc.tcache_count=0", 1) for n in "abc"]
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0"  # this process's own, as it was
    monkeypatch.delenv("GLIBC_TUNABLES")
    assert [v for _, v, _ in run_in_workers(_worker_view, ["d"], workers=1, threads=2)] == [MALLOC_TUNABLES]
    assert "GLIBC_TUNABLES" not in os.environ


def _die_or_wait(name: str) -> str:
    import signal
    import time

    if name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    time.sleep(60 if name == "slow" else 0)
    return name


def test_a_worker_killed_from_outside_fails_the_run_at_once_with_a_clear_error():
    import time

    start = time.monotonic()
    with pytest.raises(StageError, match=r"a worker process died while generating .* set generate.workers lower"):
        list(run_in_workers(_die_or_wait, ["killed", "slow"], workers=2, threads=1))
    assert time.monotonic() - start < 30  # neither a hang nor a wait for the slow job


def _fail(name: str) -> str:
    if name == "bad":
        raise FileNotFoundError(f"{name}: no such local path")
    return name


def test_a_failing_job_raises_its_own_error():
    with pytest.raises(FileNotFoundError, match="bad: no such local path"):
        list(run_in_workers(_fail, ["good", "bad", "fine"], workers=2, threads=1))
