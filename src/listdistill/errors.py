"""One error style for the stage commands: ``Error: <file>:<line>: <what was expected>``, no traceback.

A stage ends with ``if __name__ == "__main__": run(main)``, or decorates its click command with
:func:`friendly` (which ``run`` also does, and which click's ``CliRunner`` sees). An error the user can fix (a
bad input file, a missing path, a full disk, a bad parameter, a corrupt model) is then printed by click as one
line on stderr with exit code 1; anything else is a bug and keeps its traceback. ``LISTDISTILL_DEBUG=1`` keeps
the traceback for every error.

The messages (:func:`user_message`):

* :class:`StageError` and ``ValueError`` (``io.FormatError``, a bad config value): their own message, which
  names the file and line or the key and the valid range;
* ``OSError`` with ``ENOSPC`` / ``EDQUOT`` (or numpy's short write ``N requested and M written``; a library's own
  error for a full disk is turned into one by :func:`as_full_disk`): ``No space left on device on <mount point>
  (<device>) while writing <path>``: the disk, and the path the user gave (never a staging path that is gone);
* ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ``NotADirectoryError``, ``FileExistsError``
  and other ``OSError`` naming a file: ``<path>: <what is wrong>``;
* ``UnicodeDecodeError``: the input is not UTF-8, with the byte offset;
* ``json.JSONDecodeError``: not valid JSON, with line and column;
* ``MemoryError`` and torch's out-of-memory error: what ran out and what to lower.

Signals (:func:`run` installs them): Ctrl-C raises ``KeyboardInterrupt`` and SIGTERM :class:`Terminated` (a
``KeyboardInterrupt``) in the main thread, so the same cleanup runs (staging folders removed, previous outputs
left as they were), and the stage ends with ``Aborted!`` and exit code 1. Python handles a signal only between
bytecodes of the main thread; while that thread is inside Java (Lucene, through pyjnius) or C for longer than
:data:`ABORT_GRACE` seconds, a watchdog thread runs the cleanup hooks (:func:`on_abort`) and ends the process with
``128 + signal``.

This module imports click only inside :func:`friendly` and :func:`run`, so library code may raise
:class:`StageError` without depending on click.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import click

DEBUG_ENV = "LISTDISTILL_DEBUG"
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")  # numpy's message for a write cut short
# How other libraries say the disk is full: Rust's io::Error (safetensors, tokenizers), Java (Lucene)
FULL_DISK_TEXT = re.compile(r"No space left on device|StorageFull|os error 28|Disk quota exceeded")
# torch.save's C++ writer, which does not say why a write failed
TORCH_WRITE = re.compile(r"PytorchStreamWriter failed writing|file write failed|unexpected pos \d+ vs \d+")
ABORT_GRACE = 3.0  # seconds the main thread has to unwind after Ctrl-C or SIGTERM before the watchdog ends it


class StageError(Exception):
    """A failure the user can fix, raised by library code; the message is complete (names the path and says
    what is wrong), so it is printed as is."""


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _where(e: OSError) -> str:
    names = [n for n in (e.filename, e.filename2) if n]
    return " -> ".join(str(n) for n in names)


def mount_point(path: str | Path) -> str:
    """The mount point of the filesystem ``path`` is (or would be) on: the disk a full-disk message names."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return str(p)


def disk(path: str | Path) -> str:
    """``<mount point> (<device>)`` of the filesystem ``path`` is on, e.g. ``/data (/dev/sdb1)``; the device is left
    out where ``/proc/self/mounts`` does not say."""
    mount, device = mount_point(path), None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == mount:
                device = fields[0]  # the last matching line is the mount on top
    return f"{mount} ({device})" if device else mount


def is_full_disk(e: BaseException, path: str | Path | None = None) -> bool:
    """True when ``e`` says the disk is full: ``ENOSPC``/``EDQUOT``, numpy's short write, a library's own error
    naming the condition (safetensors, Java), or torch.save's anonymous write failure while ``path``'s disk has
    less than 1 MiB free."""
    if isinstance(e, OSError) and (e.errno in FULL_DISK or (e.errno is None and SHORT_WRITE.match(str(e)))):
        return True
    text = f"{e} {getattr(e, 'innermessage', '')}"
    if FULL_DISK_TEXT.search(text):
        return True
    return path is not None and TORCH_WRITE.search(text) is not None and nearly_full(path)


def nearly_full(path: str | Path) -> bool:
    """True when the disk of ``path`` has less than 1 MiB free: what is left when a writer that does not say why
    it failed (torch.save, Lucene) filled it."""
    try:
        return shutil.disk_usage(mount_point(path)).free < 1 << 20
    except OSError:
        return False


def as_full_disk(e: BaseException, path: str | Path) -> OSError | None:
    """``e`` as an ``OSError(ENOSPC)`` naming ``path`` (the output the user knows) when it is a full disk in a
    library's own clothes (:func:`is_full_disk`), else None (an ``OSError`` is named in place instead)."""
    if isinstance(e, OSError) or not is_full_disk(e, path):
        return None
    code = errno.EDQUOT if "quota" in str(e).lower() else errno.ENOSPC
    return OSError(code, f"{os.strerror(code)} ({str(e).splitlines()[0] if str(e) else type(e).__name__})", str(path))


def user_message(e: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug (which keeps its traceback)."""
    if type(e).__module__.startswith("click"):
        return None
    if isinstance(e, StageError):
        return str(e)
    if isinstance(e, OSError):
        where = _where(e)
        if e.errno in FULL_DISK or (e.errno is None and SHORT_WRITE.match(str(e))):
            what = "Disk quota exceeded" if e.errno == errno.EDQUOT else "No space left on device"
            if not where:
                return f"{what} ({e})"
            return f"{what} on {disk(str(e.filename).split(', ')[0])} while writing {where}"
        if e.errno is None:
            return str(e)  # raised by our code with a complete message, e.g. FileNotFoundError("<path>: ...")
        reasons = {
            FileNotFoundError: "no such file or directory",
            PermissionError: "permission denied",
            IsADirectoryError: "is a folder, expected a file",
            NotADirectoryError: "a part of this path is not a folder",
            FileExistsError: "already exists",
        }
        reason = next((r for cls, r in reasons.items() if isinstance(e, cls)), e.strerror or str(e))
        return f"{where}: {reason}" if where else str(e)
    if isinstance(e, UnicodeDecodeError):
        return (
            f"input is not valid {e.encoding.upper()} text: byte {e.object[e.start : e.start + 1]!r} at offset "
            f"{e.start} ({e.reason}); save the file as UTF-8"
        )
    if isinstance(e, json.JSONDecodeError):
        return f"line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})"
    if isinstance(e, ValueError):
        return str(e)
    if isinstance(e, MemoryError):
        return "out of memory; lower the batch size or the number of passages held at once"
    if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return f"out of GPU memory; lower the batch size ({str(e).splitlines()[0] if str(e) else ''})"
    if is_full_disk(e):  # a library's own error type, raised outside any output it could be tied to
        return f"No space left on device ({str(e).splitlines()[0]})"
    return None


def friendly(command: click.Command) -> click.Command:
    """Make ``command`` print a known error as ``Error: <message>`` (exit 1, no traceback); return it."""
    import click

    if getattr(command, "_listdistill_friendly", False):
        return command
    invoke = command.invoke

    def guarded(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except Exception as e:
            message = user_message(e)
            if message is None or debug():
                raise
            raise click.ClickException(message.strip().replace("\n", " ")) from e

    command.invoke = guarded  # type: ignore[method-assign]
    command._listdistill_friendly = True  # type: ignore[attr-defined]
    return command


def run(command: click.Command, args: list[str] | None = None) -> NoReturn:
    """Run a stage's click command with :func:`friendly` errors and the signal handling of the module docstring
    (the ``__main__`` entry point)."""
    friendly(command)
    install_signal_handlers()
    try:
        command.main(args=args if args is not None else sys.argv[1:])
    except SystemExit as e:
        if ABORTED.is_set():  # stopped by a signal and unwound (staging removed): skip the interpreter's slow shutdown
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.code if isinstance(e.code, int) else 1)
        raise
    sys.exit(0)  # click's main exits itself; this is for the type checker


# -- signals -----------------------------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that the same cleanup runs."""


_ABORT_HOOKS: list[Callable[[], None]] = []


def on_abort(hook: Callable[[], None]) -> None:
    """Run ``hook`` (cleanup that must not be skipped, e.g. removing staging folders) if the watchdog has to end
    the process after a signal; hooks must be quick and thread-safe."""
    _ABORT_HOOKS.append(hook)


def _terminate(signum: int, frame: object) -> None:
    ABORTED.set()
    raise Terminated(f"signal {signum}")


def _interrupt(signum: int, frame: object) -> None:
    ABORTED.set()
    raise KeyboardInterrupt


_INSTALLED = threading.Event()
ABORTED = threading.Event()  # set when Ctrl-C or SIGTERM arrived


def install_signal_handlers(grace: float = ABORT_GRACE) -> None:
    """SIGTERM raises :class:`Terminated`; after Ctrl-C or SIGTERM, a watchdog thread ends the process if the main
    thread has not within ``grace`` seconds; an interrupt that reaches the top (during the imports, before click
    runs) prints ``Aborted!``, not a traceback. Main thread only, once; a SIGINT ignored by the parent stays
    ignored."""
    if _INSTALLED.is_set():
        return
    _INSTALLED.set()
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the parent made us ignore it
        signal.signal(signal.SIGINT, _interrupt)
    hook = sys.excepthook

    def quiet_interrupt(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt) and not debug():
            sys.stderr.write("\nAborted!\n")
            return
        hook(kind, value, tb)

    sys.excepthook = quiet_interrupt
    unraisable = sys.unraisablehook

    def interrupt_again(info: Any) -> None:
        """An interrupt raised where Python cannot propagate it (a weakref callback, ``__del__``) is lost: deliver it
        to the main thread again, once it has left that place, instead of printing it."""
        if isinstance(info.exc_value, KeyboardInterrupt):
            again = signal.SIGTERM if isinstance(info.exc_value, Terminated) else signal.SIGINT
            threading.Timer(0.05, _thread.interrupt_main, args=(again,)).start()
            return
        unraisable(info)

    sys.unraisablehook = interrupt_again
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)  # the C-level handler writes the signal number here
    threading.Thread(target=_watchdog, args=(read, grace), daemon=True, name="listdistill-watchdog").start()


def _watchdog(read: int, grace: float) -> None:
    while True:
        data = os.read(read, 1)
        if not data:
            return
        if data[0] in (signal.SIGINT, signal.SIGTERM) and signal.getsignal(data[0]) is not signal.SIG_IGN:
            ABORTED.set()
            break
    time.sleep(grace)  # the main thread unwinds and exits by itself unless it is stuck in Java or C
    for hook in _ABORT_HOOKS:
        with contextlib.suppress(Exception):  # the process ends now whatever a hook does
            hook()
    os.write(2, f"\nAborted! (signal {data[0]}; the stage did not stop within {grace:g} s)\n".encode())
    os._exit(128 + data[0])
