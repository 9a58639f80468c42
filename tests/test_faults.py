"""Fault injection (issue 21): each stage run as DVC runs it (``python -m stages.<name>``, a subprocess) and stopped
at seeded random points by SIGKILL, SIGINT or SIGTERM; killed at chosen instants (mid-commit, while a checkpoint or
the student is saved); a full disk at each write (a real small tmpfs as root, injected ENOSPC anywhere); SIGINT
while Java works. After each: the previous outputs intact (or, when the stop came after the commit, the whole new
set), no staging folder left (a SIGKILLed run's is removed by the next run of any stage), an interrupted stage gone
within seconds, one ``Error:`` line and no traceback, and a rerun that ends byte-identical to an uninterrupted run.

The world: the tiny BEIR folder and tiny BERT of tests/test_bad_inputs.py, the ``sentences`` query type (no
generator model), query-tower training with a checkpoint every step. Every stage runs once uninterrupted into
``ref/`` (the reference bytes and durations); each case writes its outputs into its own folder, reading its inputs
from ``ref/``. The kills of every stage and the full disks are marked slow (minutes); the chosen-instant kills, the
SIGINT in Java and the injected full disk run always. By default each stage is stopped by one signal and the disk
filled at two sizes; ``LISTDISTILL_FAULTS=all`` runs every stage with every signal and four sizes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner
from conftest import small_disk
from test_bad_inputs import SETS, write_inputs

from listdistill.errors import disk

ROOT = Path(__file__).resolve().parents[1]
PAGE = 4096  # tmpfs allocates whole pages
STOP_WITHIN = 10.0  # seconds an interrupted stage may take to end (the watchdog's grace is 3 s)
FAULT_SETS = {
    **SETS,
    "query_mix": ["sentences"],
    "train.tower": "query",  # the student is saved as a two-tower Router (its tokenizer once changed on resume)
    "train.passage_max_length": 16,
    "student.query_max_length": 32,
    "train.epochs": 2,
}


@dataclass(frozen=True)
class Stage:
    """``args(inputs, out)``: the command line reading from ``inputs`` (the reference world) and writing into
    ``out``; ``outs``: its outputs (relative to ``out``); ``scratch``: resumable state that may survive a kill."""

    name: str
    args: Callable[[Path, Path], list[str]]
    outs: tuple[str, ...]
    scratch: tuple[str, ...] = ()


def _stage(name: str, outs: tuple[str, ...], scratch: tuple[str, ...] = ()):
    def register(args: Callable[[Path, Path], list[object]]) -> Stage:
        return Stage(name, lambda i, o: [str(a) for a in args(i, o)], outs, scratch)

    return register


# Lucene writes a random segment id and timestamps into its files: two uninterrupted runs differ there, so those
# files are compared by name (the index stage checks itself that the index opens and holds every passage).
VOLATILE = ("index/lucene/",)


STAGES = [
    _stage("prepare", ("prepared", "prepare.json"))(
        lambda i, o: ["--out", o / "prepared", "--stats", o / "prepare.json"]
    ),
    _stage("index", ("index",))(lambda i, o: ["--corpus", i / "prepared/corpus.jsonl", "--out", o / "index"]),
    _stage("generate", ("generated/sentences.jsonl", "generated/dropped/sentences.jsonl", "gen-stats/sentences.json"))(
        lambda i, o: [
            "--query-type",
            "sentences",
            "--pool",
            i / "prepared/pool.jsonl",
            "--checkpoint-dir",
            o / "gen-ckpt",
            "--out",
            o / "generated",
            "--stats",
            o / "gen-stats",
        ]  # fmt: skip
    ),
    _stage("mine", ("mined/sentences", "mine.json"))(
        lambda i, o: [
            "--queries",
            i / "generated/sentences.jsonl",
            "--prepared",
            i / "prepared",
            "--index",
            i / "index",
            "--out",
            o / "mined/sentences",
            "--stats",
            o / "mine.json",
        ]  # fmt: skip
    ),
    _stage("score", ("scored/sentences", "score.json"))(
        lambda i, o: [
            "--candidates",
            i / "mined/sentences/candidates.jsonl",
            "--corpus",
            i / "prepared/corpus.jsonl",
            "--index",
            i / "index",
            "--out",
            o / "scored/sentences",
            "--stats",
            o / "score.json",
        ]  # fmt: skip
    ),
    _stage("mix", ("mix",))(lambda i, o: ["--scored", i / "scored", "--out", o / "mix"]),
    _stage("train", ("student", "train.json", "curve.tsv", "dev.tsv"), scratch=("ckpt",))(
        lambda i, o: [
            "--scored",
            i / "mix",
            "--corpus",
            i / "prepared/corpus.jsonl",
            "--index",
            i / "index",
            "--checkpoint-dir",
            o / "ckpt",
            "--checkpoint-every",
            1,
            "--out",
            o / "student",
            "--metrics",
            o / "train.json",
            "--curve",
            o / "curve.tsv",
            "--dev-curve",
            o / "dev.tsv",
        ]  # fmt: skip
    ),
    _stage("evaluate", ("eval", "eval.json"))(
        lambda i, o: [
            "--prepared",
            i / "prepared",
            "--index",
            i / "index",
            "--student",
            i / "student",
            "--out",
            o / "eval",
            "--metrics",
            o / "eval.json",
        ]  # fmt: skip
    ),
]
BY_NAME = {s.name: s for s in STAGES}


@dataclass
class World:
    root: Path
    params: Path
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    reference: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ref(self) -> Path:
        return self.root / "ref"

    @property
    def registry(self) -> Path:
        return Path(self.env["LISTDISTILL_STAGING_REGISTRY"])

    def command(self, stage: Stage, out: Path) -> list[str]:
        return [sys.executable, "-m", f"stages.{stage.name}", "--params", str(self.params), *stage.args(self.ref, out)]

    def start(self, stage: Stage, out: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(stage, out), cwd=ROOT, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def run(self, stage: Stage, out: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(stage, out), cwd=ROOT, env=self.env, capture_output=True, text=True)


def snapshot(out: Path, names: tuple[str, ...]) -> dict[str, str]:
    """sha256 of every file of the outputs ``names`` under ``out`` (a missing output: ``<name>: absent``)."""
    state: dict[str, str] = {}
    for name in names:
        path = out / name
        if not path.exists():
            state[name] = "absent"
        elif path.is_file():
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            for p in sorted(path.rglob("*")):
                rel = str(p.relative_to(out))
                if p.is_file():
                    volatile = rel.startswith(VOLATILE)
                    state[rel] = "a Lucene file" if volatile else hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def leftovers(root: Path, scratch: tuple[str, ...] = ()) -> list[str]:
    """Staging folders, previous outputs moved aside and temporary files under ``root`` (outside ``scratch``)."""
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(rel.parts[: len(Path(s).parts)] == Path(s).parts for s in scratch):
            continue
        if ".stage-" in p.name or ".old-" in p.name or p.name.endswith(".tmp"):
            found.append(str(rel))
    return sorted(found)


def journals(world: World) -> list[str]:
    return sorted(p.name for p in world.registry.glob("*")) if world.registry.is_dir() else []


def sentinels(stage: Stage, out: Path) -> dict[str, str]:
    """Previous outputs (a file, or a folder with one file) that a stopped run must leave as they are."""
    for name in stage.outs:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if "." in Path(name).name:
            path.write_text(f"previous {name}\n")
        else:
            path.mkdir()
            (path / "old.txt").write_text(f"previous {name}\n")
    return snapshot(out, stage.outs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The inputs, and every stage run once uninterrupted into ref/ (its bytes and wall time are the reference)."""
    root = tmp_path_factory.mktemp("faults")
    _, _, params = write_inputs(root, FAULT_SETS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "OMP_NUM_THREADS": "1",
           "LISTDISTILL_STAGING_REGISTRY": str(root / "registry"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    env.pop("LISTDISTILL_DEBUG", None)
    w = World(root, params, env)
    for stage in STAGES:
        start = time.monotonic()
        done = w.run(stage, w.ref)
        w.seconds[stage.name] = time.monotonic() - start
        assert done.returncode == 0, f"{stage.name}: {done.stderr[-3000:]}"
        w.reference[stage.name] = snapshot(w.ref, stage.outs)
    assert leftovers(w.root) == [] and journals(w) == []
    return w


def assert_one_error_line(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert sum(line.startswith("Error:") for line in stderr.splitlines()) <= 1, stderr


def assert_rerun_matches(world: World, stage: Stage, out: Path) -> None:
    """The rerun succeeds, removes what the stopped run left, and writes the reference bytes."""
    done = world.run(stage, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert snapshot(out, stage.outs) == world.reference[stage.name]
    assert leftovers(out) == [] and journals(world) == []
    assert all(not (out / s).exists() for s in stage.scratch if stage.name == "train")  # checkpoints cleared


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, float]:
    """Send ``sig`` (unless the run already ended); return the exit code, stderr and the seconds it took to end."""
    start = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running 60 s after signal {sig}: {err[-2000:]}")
    return proc.returncode, err, time.monotonic() - start


def wait_for(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 900) -> bool:
    """Poll ``ready`` every millisecond while ``proc`` runs; True once it holds."""
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        if ready():
            return True
        time.sleep(0.001)
    return False


# -- every stage, stopped at seeded random points by each signal (slow) ------------------------------------------------
# By default each stage is stopped once, the three signals taking turns along the pipeline (8 runs, so that the
# whole CI suite stays within its time); LISTDISTILL_FAULTS=all stops every stage with every signal (24 runs) and
# fills the disk at four sizes instead of two.
ALL = os.environ.get("LISTDISTILL_FAULTS") == "all"
SIGNALS = {"kill": signal.SIGKILL, "int": signal.SIGINT, "term": signal.SIGTERM}
POINTS = (
    [(s.name, sig) for s in STAGES for sig in SIGNALS]
    if ALL
    else [(s.name, list(SIGNALS)[i % len(SIGNALS)]) for i, s in enumerate(STAGES)]
)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "sig"), POINTS, ids=[f"{n}-{s}" for n, s in POINTS])
def test_a_stage_stopped_at_a_random_point_keeps_its_outputs_and_reruns_to_the_same_bytes(
    world: World, tmp_path: Path, name: str, sig: str
):
    stage = BY_NAME[name]
    previous = sentinels(stage, tmp_path)
    delay = random.Random(f"issue21-{name}-{sig}").uniform(0.15, 1.0) * world.seconds[name]
    proc = world.start(stage, tmp_path)
    time.sleep(delay)
    code, err, took = stop(proc, SIGNALS[sig])
    state = snapshot(tmp_path, stage.outs)
    assert state in (previous, world.reference[name]), f"a mixed or partial set after {sig} at {delay:.2f} s"
    if sig != "kill":
        assert took < STOP_WITHIN, f"{name} took {took:.1f} s to stop after SIGINT/SIGTERM"
        assert code in (0, 1, -SIGNALS[sig], 128 + SIGNALS[sig]), (code, err[-2000:])
        assert_one_error_line(err)
        assert leftovers(tmp_path, stage.scratch) == []  # cleaned on the way out
    assert_rerun_matches(world, stage, tmp_path)


# -- kills at chosen instants --------------------------------------------------------------------------------------
HOLD = """
import os, sys, time
from pathlib import Path
from listdistill import atomic
out = Path(sys.argv[1])
if sys.argv[2] == "commit":  # stop between the renames of the commit: the first output is swapped, not the second
    real = os.replace
    def slow(src, dst):
        real(src, dst)
        if Path(dst) == out / "a.json":
            print("ready", flush=True)
            time.sleep(60)
    os.replace = slow
with atomic.stage_outputs(out / "a.json", out / "b") as (a, b):
    a.write_text("new a")
    b.mkdir()
    (b / "x").write_text("new b")
    if sys.argv[2] == "write":
        print("ready", flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("moment", ["write", "commit"])
def test_a_set_killed_while_written_or_committed_is_recovered_by_the_next_run_of_any_stage(
    world: World, tmp_path: Path, moment: str
):
    """SIGKILL while a stage's outputs are staged, or between the renames of its commit (the first output already
    replaced): the next run of another stage (mix here) removes the staging and rolls the commit back."""
    out = tmp_path / "data"
    out.mkdir()
    (out / "a.json").write_text("old a")
    (out / "b").mkdir()
    (out / "b" / "x").write_text("old b")
    before = snapshot(out, ("a.json", "b"))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), moment], env=world.env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.kill()
    proc.wait()
    assert leftovers(out) != [] and journals(world) != []  # what the killed run left
    if moment == "commit":
        assert (out / "a.json").read_text() == "new a"  # half the set was swapped in
    done = world.run(BY_NAME["mix"], tmp_path / "other")  # any stage, other outputs
    assert done.returncode == 0, done.stderr
    assert snapshot(out, ("a.json", "b")) == before and leftovers(out) == [] and journals(world) == []


def test_train_killed_while_a_checkpoint_is_written_resumes_to_the_same_bytes(world: World, tmp_path: Path):
    """SIGKILL while train writes its second checkpoint beside the first: the rerun recovers the folder, resumes
    from the first and writes the same student, metrics and curves as an uninterrupted run."""
    stage, ckpt = BY_NAME["train"], tmp_path / "ckpt"
    proc = world.start(stage, tmp_path)

    def second_checkpoint_started() -> bool:
        return (ckpt / "last.json").is_file() and len(list(ckpt.glob("last-*"))) >= 2

    assert wait_for(proc, second_checkpoint_started), "the run ended before its second checkpoint"
    proc.kill()
    proc.wait()
    assert (ckpt / "last.json").is_file()  # a checkpoint to resume from
    assert_rerun_matches(world, stage, tmp_path)


def test_train_killed_while_the_student_is_saved_reruns_to_the_same_bytes(world: World, tmp_path: Path):
    """SIGKILL while the student is written into its staging folder: the rerun resumes from the finished
    checkpoint, saves the same bytes (the tokenizer's max length once differed: 128 vs 64) and leaves no staging."""
    stage = BY_NAME["train"]
    proc = world.start(stage, tmp_path)
    assert wait_for(proc, lambda: any(tmp_path.glob(".student.stage-*"))), "no staging folder seen"
    proc.kill()
    proc.wait()
    assert_rerun_matches(world, stage, tmp_path)


def jvm_started(pid: int) -> bool:
    try:
        return "libjvm" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("sig", ["int", "term"])
def test_a_signal_while_java_works_ends_evaluate_within_seconds(world: World, tmp_path: Path, sig: str):
    """Java's own handlers once kept the process alive (Ctrl-C ignored, SIGTERM hung); the JVM now runs with -Xrs
    and the watchdog ends a main thread stuck in a Java call."""
    if not Path("/proc/self/maps").is_file():
        pytest.skip("needs /proc to see the JVM start")
    stage = BY_NAME["evaluate"]
    previous = sentinels(stage, tmp_path)
    proc = world.start(stage, tmp_path)
    assert wait_for(proc, lambda: jvm_started(proc.pid)), "the JVM did not start"
    code, err, took = stop(proc, SIGNALS[sig])
    assert took < STOP_WITHIN and code != 0, (code, took, err[-2000:])
    assert_one_error_line(err)
    assert snapshot(tmp_path, stage.outs) == previous and leftovers(tmp_path) == []


# -- a full disk at each write -----------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", [s.name for s in STAGES])
def test_a_full_disk_at_each_write_keeps_the_previous_outputs(world: World, tmp_path: Path, name: str):
    """A real tmpfs (root only) sized to fill up at successive writes of the stage: each run succeeds with the
    reference bytes or fails with one line naming the disk and an output path, the previous outputs intact and
    no staging left; a rerun on a roomy disk then ends byte-identical (train resumes from its checkpoints)."""
    stage = BY_NAME[name]
    pages = [-(-p.stat().st_size // PAGE) for o in stage.outs for p in [world.ref / o, *(world.ref / o).rglob("*")]
             if p.is_file()]  # fmt: skip
    base = len(stage.outs)  # the previous outputs' pages (one file each; folders take none)
    refused = 0
    quarters = (0, 1, 2, 3) if ALL else (0, 2)  # from the first write to 3/4 of them (default: the first and half)
    for size in sorted({base + sum(pages) * k // 4 for k in quarters}):
        roomy = tmp_path / f"roomy{size}"
        with small_disk(tmp_path / f"disk{size}", f"{size * PAGE // 1024}k") as mount:
            previous = sentinels(stage, mount)
            done = world.run(stage, mount)
            if done.returncode == 0:
                assert snapshot(mount, stage.outs) == world.reference[name]
            else:
                refused += 1
                assert done.returncode == 1
                assert_full_disk_refused(done.stderr, mount, f"{mount} (tmpfs)")
                assert snapshot(mount, stage.outs) == previous and leftovers(mount, stage.scratch) == []
            shutil.copytree(mount, roomy, symlinks=True)  # the disk's state, checkpoints included
        assert_rerun_matches(world, stage, roomy)
    assert refused >= 1


def assert_full_disk_refused(output: str, out: Path, where: str) -> None:
    """One ``Error:`` line naming the disk ``where`` and output paths under ``out`` (no staging path), no traceback."""
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output[-3000:]
    prefix = f"Error: No space left on device on {where} while writing "
    assert errors[0].startswith(prefix), errors[0]
    named = errors[0].removeprefix(prefix).split(" (")[0]
    assert ".stage-" not in named and all(p.startswith(str(out)) for p in named.split(", ")), named


@contextlib.contextmanager
def injected_full_disk(room: int) -> Iterator[None]:
    """Every file opened for writing in the block shares ``room`` bytes; a write past them raises ENOSPC without a
    file name, as ``f.write`` does on a full disk (``os.sendfile`` copies and C++/Rust writers bypass this: the
    tmpfs test covers them)."""
    import builtins

    real_open, real_fdopen = builtins.open, os.fdopen

    class Handle:
        def __init__(self, handle: IO[Any]) -> None:
            self._handle = handle

        def write(self, data: str | bytes) -> int:
            nonlocal room
            size = len(data.encode() if isinstance(data, str) else data)
            if size > room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            room -= size
            return self._handle.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._handle, name)

        def __enter__(self) -> Handle:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()

    def guarded(real: Callable[..., IO[Any]]) -> Callable[..., Any]:
        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real(file, mode, *args, **kwargs)
            return Handle(handle) if any(c in mode for c in "wax+") else handle

        return open_

    builtins.open, os.fdopen = guarded(real_open), guarded(real_fdopen)  # type: ignore[assignment]
    try:
        yield
    finally:
        builtins.open, os.fdopen = real_open, real_fdopen  # type: ignore[assignment]


@pytest.mark.parametrize("name", ["prepare", "generate", "score"])
def test_injected_enospc_at_each_write(world: World, tmp_path: Path, name: str):
    """Anywhere (no root): the stage in-process, every file write sharing a budget that runs out at successive
    writes; each run refused with one line naming the disk and an output, the previous outputs intact, no staging
    left; the largest budget succeeds with the reference bytes."""
    stage = BY_NAME[name]
    module = importlib.import_module(f"stages.{name}")
    refused = 0
    for room in (0, 200, 2000, 1 << 24):
        out = tmp_path / f"room{room}"
        previous = sentinels(stage, out)
        with injected_full_disk(room):
            result = CliRunner().invoke(module.main, ["--params", str(world.params), *stage.args(world.ref, out)])
        if result.exit_code == 0:
            assert snapshot(out, stage.outs) == world.reference[name]
        else:
            refused += 1
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
            assert_full_disk_refused(result.output, out, disk(out))
            assert snapshot(out, stage.outs) == previous and leftovers(out, stage.scratch) == []
    assert refused >= 2 and result.exit_code == 0
