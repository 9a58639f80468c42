from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from listdistill.errors import StageError, disk, friendly, user_message
from listdistill.io import FormatError, read_json
from listdistill.records import write_jsonl


def raiser(kind: str, tmp: str) -> None:
    """Raise the error ``kind`` the way the library or Python would."""
    if kind == "format":
        raise FormatError(f"{tmp}/corpus.jsonl: line 3: missing key(s) ['text']; expected ['doc_id', 'text']")
    if kind == "missing":
        Path(f"{tmp}/nope.jsonl").read_text()
    if kind == "permission":
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{tmp}/ro.json")
    if kind == "isdir":
        Path(tmp).read_text()
    if kind == "enospc":
        write_jsonl(f"{tmp}/out.jsonl", RaisingRecords())
    if kind == "short-write":
        raise OSError("1048576 requested and 62432 written")  # numpy on a full disk
    if kind == "unicode":
        b"abc\xff".decode("utf-8")
    if kind == "json":
        json.loads('{"a": 1,\n "b": }')
    if kind == "json-file":
        with open(f"{tmp}/m.json", "w") as f:
            f.write("{")
        read_json(f"{tmp}/m.json")
    if kind == "config":
        raise ValueError("train.lr: must be > 0, got 0.0")
    if kind == "stage":
        raise StageError(f"{tmp}/model: model.safetensors is truncated or corrupt")
    if kind == "bug":
        raise AttributeError("'NoneType' object has no attribute 'x'")
    if kind == "usage":
        raise click.BadParameter("must be positive", param_hint="'--epochs'")


class RaisingRecords:
    def __iter__(self):
        yield {"doc_id": "d1"}
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@friendly
@click.command()
@click.argument("kind")
@click.argument("tmp")
def cmd(kind: str, tmp: str) -> None:
    raiser(kind, tmp)
    click.echo("done")


EXPECTED = {
    "format": r"^Error: .*/corpus\.jsonl: line 3: missing key\(s\) \['text'\]; expected \['doc_id', 'text'\]$",
    "missing": r"^Error: .*/nope\.jsonl: no such file or directory$",
    "permission": r"^Error: .*/ro\.json: permission denied$",
    "isdir": r"^Error: .*: is a folder, expected a file$",
    "enospc": r"^Error: No space left on device on /\S* (\(\S+\) )?while writing .*/out\.jsonl$",
    "short-write": r"^Error: No space left on device \(1048576 requested and 62432 written\)$",
    "unicode": r"^Error: input is not valid UTF-8 text: byte b'\\xff' at offset 3 \(invalid start byte\)",
    "json": r"^Error: line 2, column 7: not valid JSON \(Expecting value\)$",
    "json-file": r"^Error: .*/m\.json:( line )?1: .*JSON.*\(Expecting property name",
    "config": r"^Error: train\.lr: must be > 0, got 0\.0$",
    "stage": r"^Error: .*/model: model\.safetensors is truncated or corrupt$",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_known_errors_are_one_line_exit_1(kind, tmp_path, monkeypatch):
    monkeypatch.delenv("LISTDISTILL_DEBUG", raising=False)
    result = CliRunner().invoke(cmd, [kind, str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    import re

    assert re.match(EXPECTED[kind], lines[0]), lines[0]
    assert list(tmp_path.glob(".out.jsonl.*")) == []  # the writer left no temporary


def test_usage_errors_stay_clicks(tmp_path):
    result = CliRunner().invoke(cmd, ["usage", str(tmp_path)])
    assert result.exit_code == 2
    assert "Invalid value for '--epochs': must be positive" in result.stderr


def test_bug_keeps_its_exception(tmp_path):
    result = CliRunner().invoke(cmd, ["bug", str(tmp_path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, AttributeError)  # a traceback, as before: it is not the user's fault


def test_debug_env_keeps_the_exception(tmp_path, monkeypatch):
    monkeypatch.setenv("LISTDISTILL_DEBUG", "1")
    result = CliRunner().invoke(cmd, ["format", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, FormatError)


def test_user_message_of_plain_errors():
    root = disk("/")
    assert user_message(OSError(errno.ENOSPC, "No space left on device", "/x/y")) == (
        f"No space left on device on {root} while writing /x/y"
    )
    assert (
        user_message(OSError(errno.EDQUOT, "Disk quota exceeded", "/x"))
        == f"Disk quota exceeded on {root} while writing /x"
    )
    assert user_message(FileNotFoundError("/a/b: no such file")) == "/a/b: no such file"
    assert user_message(RuntimeError("bug")) is None
    assert user_message(click.UsageError("x")) is None


def test_numpy_short_write_named_by_stage_outputs(tmp_path):
    """numpy reports a full disk as an OSError without errno; stage_outputs names the output."""
    from listdistill.atomic import stage_outputs

    with (
        pytest.raises(OSError) as info,
        stage_outputs(tmp_path / "emb.npy"),
    ):
        raise OSError("4194304 requested and 123 written")
    assert (
        user_message(info.value) == f"No space left on device on {disk(tmp_path)} while writing {tmp_path / 'emb.npy'}"
    )


SCRIPT = textwrap.dedent(
    """
    import click
    from listdistill.errors import run
    from listdistill.io import FormatError

    @click.command()
    @click.option("--fail", is_flag=True)
    def main(fail):
        if fail:
            raise FormatError("queries.jsonl: line 2: query text is empty")
        click.echo("ok")

    if __name__ == "__main__":
        run(main)
    """
)


@pytest.mark.parametrize("debug", [False, True])
def test_run_as_a_script(tmp_path, debug):
    script = tmp_path / "stage.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "LISTDISTILL_DEBUG"}
    if debug:
        env["LISTDISTILL_DEBUG"] = "1"
    ok = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "ok\n", "")
    bad = subprocess.run([sys.executable, str(script), "--fail"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    if debug:
        assert "Traceback" in bad.stderr and "FormatError: queries.jsonl: line 2" in bad.stderr
    else:
        assert bad.stderr == "Error: queries.jsonl: line 2: query text is empty\n"


WATCHDOG = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from listdistill.errors import install_signal_handlers, on_abort

    install_signal_handlers()
    on_abort(lambda: Path(sys.argv[1]).write_text("cleaned"))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # as while the JVM runs a long call:
    print("ready", flush=True)  # the main thread never sees the signal, another thread's handler only flags it
    time.sleep(30)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_main_thread_stuck_in_a_call_is_ended_by_the_watchdog(tmp_path, sig):
    """The main thread cannot run Python's handler (here it blocks the signal, as one inside a Java call cannot run
    it): the watchdog runs the cleanup hooks and ends the process ABORT_GRACE seconds after the signal."""
    from listdistill.errors import ABORT_GRACE

    marker = tmp_path / "cleaned"
    proc = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(marker)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(0.5)  # the main thread is in its sleep: a signal before that is handled there, as it should be
    start = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - start
    assert proc.returncode == 128 + sig and ABORT_GRACE <= took < ABORT_GRACE + 5, (proc.returncode, took, err)
    assert marker.read_text() == "cleaned" and f"Aborted! (signal {int(sig)};" in err and "Traceback" not in err


LOST_INTERRUPT = textwrap.dedent(
    """
    import time, weakref
    from listdistill.errors import install_signal_handlers

    install_signal_handlers()

    class Thing:
        pass

    def callback(ref):  # Ctrl-C landing while Python runs a weakref callback raises here, where it cannot propagate
        raise KeyboardInterrupt

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    for _ in range(200):
        time.sleep(0.05)
    print("not interrupted")
    """
)


def test_an_interrupt_raised_where_it_cannot_propagate_is_delivered_again():
    """Once printed as 'Exception ignored in ... Traceback' while the stage went on (a SIGTERM during an import)."""
    done = subprocess.run([sys.executable, "-c", LOST_INTERRUPT], capture_output=True, text=True, timeout=60)
    assert done.stdout == "" and done.stderr == "\nAborted!\n" and done.returncode != 0
