from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from listdistill import io
from listdistill.atomic import MissingOutputError, stage_outputs
from listdistill.errors import disk, user_message
from listdistill.io import write_tsv
from listdistill.records import write_jsonl


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def previous(tmp_path):
    """A stage's previous outputs: two files and a folder."""
    out = tmp_path / "out"
    write_jsonl(out / "corpus.jsonl", [{"doc_id": "d1", "text": "old"}])
    write_jsonl(out / "pool.jsonl", [{"doc_id": "d1"}])
    (out / "index").mkdir()
    (out / "index" / "seg0").write_bytes(b"old segment")
    return out


def write_all(corpus: Path, pool: Path, index: Path, fail_after: int | None = None) -> None:
    write_jsonl(corpus, [{"doc_id": "d2", "text": "new"}])
    if fail_after == 1:
        raise RuntimeError("boom after the corpus")
    write_jsonl(pool, [{"doc_id": "d2"}])
    index.mkdir()
    np.save(index / "emb.npy", np.zeros((2, 3), dtype=np.float32))


def test_success_replaces_every_output(previous):
    outs = (previous / "corpus.jsonl", previous / "pool.jsonl", previous / "index")
    with stage_outputs(*outs) as (corpus, pool, index):
        assert corpus.parent.parent == previous and not corpus.exists()
        write_all(corpus, pool, index)
        assert (previous / "corpus.jsonl").read_text() == '{"doc_id": "d1", "text": "old"}\n'  # not yet
    assert (previous / "corpus.jsonl").read_text() == '{"doc_id": "d2", "text": "new"}\n'
    assert (previous / "pool.jsonl").read_text() == '{"doc_id": "d2"}\n'
    assert sorted(p.name for p in (previous / "index").iterdir()) == ["emb.npy"]
    assert sorted(p.name for p in previous.iterdir()) == ["corpus.jsonl", "index", "pool.jsonl"]  # no temporaries


def test_first_run_creates_outputs(tmp_path):
    with stage_outputs(tmp_path / "a" / "x.json", tmp_path / "b") as (x, b):
        io.write_json(x, {"k": 1})
        b.mkdir()
    assert (tmp_path / "a" / "x.json").is_file() and (tmp_path / "b").is_dir()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.json"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_error_midway_keeps_previous_outputs(previous, exc):
    before = snapshot(previous)

    with (
        pytest.raises(type(exc)),
        stage_outputs(previous / "corpus.jsonl", previous / "pool.jsonl", previous / "index") as (c, p, i),
    ):
        write_jsonl(c, [{"doc_id": "d2", "text": "new"}])
        raise exc
    assert snapshot(previous) == before  # byte-identical, and no temporary left (hidden files included)


def test_missing_output_is_an_error_and_nothing_changes(previous):
    before = snapshot(previous)
    with (
        pytest.raises(MissingOutputError, match=r"pool\.jsonl: the stage finished without writing this output"),
        stage_outputs(previous / "corpus.jsonl", previous / "pool.jsonl") as (corpus, _pool),
    ):
        write_jsonl(corpus, [{"doc_id": "d2", "text": "new"}])
    assert snapshot(previous) == before


def test_overlapping_outputs_rejected(tmp_path):
    with (
        pytest.raises(ValueError, match="overlap"),
        stage_outputs(tmp_path / "out", tmp_path / "out" / "x.json"),
    ):
        pass


def test_injected_enospc_midway_keeps_previous_outputs(previous, monkeypatch):
    """The disk fills up while the last output is written (numpy writes part of the file, then the write fails):
    the error names the outputs, the previous set survives byte-identical, no temporary is left."""
    before = snapshot(previous)

    def full_disk_save(path, array):
        with open(path, "wb") as f:
            f.write(array.tobytes()[:7])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", full_disk_save)
    with (
        pytest.raises(OSError) as info,
        stage_outputs(previous / "corpus.jsonl", previous / "pool.jsonl", previous / "index") as (c, p, i),
    ):
        write_all(c, p, i)
    assert info.value.errno == errno.ENOSPC
    assert user_message(info.value).startswith(f"No space left on device on {disk(previous)} while writing ")
    assert str(previous / "index") in user_message(info.value)
    assert snapshot(previous) == before


class FullDisk:
    """A file handle whose disk fills up after ``room`` bytes: ``write`` raises ENOSPC without a file name."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_enospc_inside_write_names_the_file(previous, monkeypatch):
    """The disk fills up in the middle of a write: the error names the file, no temporary is left, and the
    previous outputs survive."""
    before = snapshot(previous)
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k), room=40))
    with pytest.raises(OSError) as info:
        write_jsonl(previous / "corpus.jsonl", [{"doc_id": f"d{i}", "text": "new"} for i in range(10)])
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(previous / "corpus.jsonl")
    with (
        pytest.raises(OSError) as info,
        stage_outputs(previous / "corpus.jsonl", previous / "pool.jsonl") as (corpus, pool),
    ):
        write_jsonl(corpus, [{"doc_id": "d2"}])  # fits
        write_jsonl(pool, [{"doc_id": f"d{i}"} for i in range(10)])  # does not
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC and "pool.jsonl" in info.value.filename
    assert snapshot(previous) == before


def test_failed_rename_rolls_back(previous, monkeypatch):
    """If the second swap fails, the first is undone: the previous set is back in place."""
    before = snapshot(previous)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:  # old corpus aside, new corpus in, old pool aside, new pool in <- fails
            raise OSError(errno.EIO, "injected")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with (
        pytest.raises(OSError, match="injected"),
        stage_outputs(previous / "corpus.jsonl", previous / "pool.jsonl") as (corpus, pool),
    ):
        write_jsonl(corpus, [{"doc_id": "d2", "text": "new"}])
        write_jsonl(pool, [{"doc_id": "d2"}])
    monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(previous) == before


def test_stale_staging_folder_of_a_dead_process_removed(tmp_path):
    stale = tmp_path / f".out.stage-{2**22 + 12345}-abc"
    stale.mkdir()
    with stage_outputs(tmp_path / "out") as (out,):
        out.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def can_mount_tmpfs() -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/listdistill-probe-{uuid.uuid4().hex}")
    probe.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True)
    if ok.returncode == 0:
        subprocess.run(["umount", str(probe)], check=False)
    probe.rmdir()
    return ok.returncode == 0


@pytest.fixture()
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (needs root; skipped elsewhere, where the injected-ENOSPC tests stand in)."""
    if not can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs here (not root)")
    root = tmp_path / "tiny"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(root)], check=True)
    yield root
    subprocess.run(["umount", str(root)], check=False)


def test_real_full_disk_keeps_previous_outputs(tiny_fs):
    write_jsonl(tiny_fs / "corpus.jsonl", [{"doc_id": "d1", "text": "old"}])
    (tiny_fs / "index").mkdir()
    np.save(tiny_fs / "index" / "emb.npy", np.ones((4, 4), dtype=np.float32))
    before = snapshot(tiny_fs)
    with (
        pytest.raises(OSError) as info,
        stage_outputs(tiny_fs / "corpus.jsonl", tiny_fs / "index") as (corpus, index),
    ):
        write_jsonl(corpus, [{"doc_id": "d2", "text": "new"}])
        index.mkdir()
        np.save(index / "emb.npy", np.ones((1024, 1024), dtype=np.float32))  # 4 MiB on a 256 KiB disk
    assert (
        user_message(info.value)
        == f"No space left on device on {tiny_fs} (tmpfs) while writing {tiny_fs / 'corpus.jsonl'}, {tiny_fs / 'index'}"
    )
    assert snapshot(tiny_fs) == before


def test_atomic_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "a.json", {})
        (tmp_path / "b.json").write_text("{}")
        os.umask(0o077)
        io.write_json(tmp_path / "c.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == stat.S_IMODE((tmp_path / "b.json").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "c.json").stat().st_mode) == 0o600


def test_write_tsv_column_order_does_not_depend_on_dict_order(tmp_path):
    fresh = [{"step": 1, "epoch": 1, "loss": 0.5, "lr": 1e-5, "grad_norm": 2.0}]
    resumed = [dict(sorted(fresh[0].items()))]  # as read back from state.json (sorted keys)
    write_tsv(tmp_path / "a.tsv", fresh)
    write_tsv(tmp_path / "b.tsv", resumed)
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    assert (tmp_path / "a.tsv").read_text() == "step\tepoch\tgrad_norm\tloss\tlr\n1\t1\t2.0\t0.5\t1e-05\n"


def test_write_tsv_fields_and_missing_values(tmp_path):
    write_tsv(tmp_path / "a.tsv", [{"epoch": 1, "dev": 0.5}, {"epoch": 2}], fields=["epoch", "dev"])
    assert (tmp_path / "a.tsv").read_text() == "epoch\tdev\n1\t0.5\n2\t\n"
    write_tsv(tmp_path / "e.tsv", [])
    assert (tmp_path / "e.tsv").read_text() == "step\n"
    with pytest.raises(ValueError, match=r"column\(s\) \['x'\] are not among the fields"):
        write_tsv(tmp_path / "b.tsv", [{"epoch": 1, "x": 2}], fields=["epoch"])


def test_a_previous_output_left_aside_by_a_dead_process_is_put_back(tmp_path):
    """Without a journal (the temporary folder was cleared): an output moved aside by a process that died before
    moving the new one in is restored when the output is next staged."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = tmp_path / f".out.old-{dead.pid}-ab12"
    aside.mkdir()
    (aside / "x").write_text("previous")
    with pytest.raises(RuntimeError, match="refused"), stage_outputs(tmp_path / "out") as (out,):
        raise RuntimeError("refused")
    assert snapshot(tmp_path) == {"out/x": b"previous"}


def test_a_copy_that_fills_the_disk_names_the_output_not_the_source(tmp_path, monkeypatch):
    """shutil.copyfile reports (source, destination): the error names the destination's output and its disk."""
    (tmp_path / "src.jsonl").write_text("x\n")

    def full(src, dst):  # as shutil's sendfile copy sets them
        e = OSError(errno.ENOSPC, "No space left on device", str(src))
        e.filename2 = str(dst)
        raise e

    with pytest.raises(OSError) as info, stage_outputs(tmp_path / "mix") as (mix,):
        mix.mkdir()
        full(tmp_path / "src.jsonl", mix / "t" / "train.jsonl")
    assert user_message(info.value) == (
        f"No space left on device on {disk(tmp_path)} while writing {tmp_path / 'mix' / 't' / 'train.jsonl'}"
    )


def test_outputs_are_staged_where_the_journal_folder_cannot_be_written(tmp_path, monkeypatch):
    """A read-only temporary folder does not stop a stage: its sets go unrecorded (recovered beside the outputs)."""
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("LISTDISTILL_STAGING_REGISTRY", str(blocked / "staging"))
    with stage_outputs(tmp_path / "out.json") as (out,):
        out.write_text("new")
    assert (tmp_path / "out.json").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [
        "file",
        "out.json",
    ]


def test_sweep_removes_a_journal_cut_short_by_a_kill_and_keeps_a_living_process_one(tmp_path, monkeypatch):
    """A kill between writing a journal's temporary file and renaming it leaves ``.<pid>-<hex>.json.tmp``."""
    import sys

    from listdistill.atomic import sweep

    monkeypatch.setenv("LISTDISTILL_STAGING_REGISTRY", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = f".{gone.stdout.strip()}-0123456789ab.json.tmp", f".{os.getpid()}-0123456789ab.json.tmp"
    (tmp_path / dead).write_text("{")
    (tmp_path / alive).write_text("{")
    sweep()
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive]
