"""One error style for the stage commands: ``Error: <file>:<line>: <what was expected>``, no traceback.

A stage ends with ``if __name__ == "__main__": run(main)``, or decorates its click command with
:func:`friendly` (which ``run`` also does, and which click's ``CliRunner`` sees). An error the user can fix (a
bad input file, a missing path, a full disk, a bad parameter, a corrupt model) is then printed by click as one
line on stderr with exit code 1; anything else is a bug and keeps its traceback. ``LISTDISTILL_DEBUG=1`` keeps
the traceback for every error.

The messages (:func:`user_message`):

* :class:`StageError` and ``ValueError`` (``io.FormatError``, a bad config value): their own message, which
  names the file and line or the key and the valid range;
* ``OSError`` with ``ENOSPC`` / ``EDQUOT`` (or numpy's short write ``N requested and M written``):
  ``No space left on device while writing <path>``;
* ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ``NotADirectoryError``, ``FileExistsError``
  and other ``OSError`` naming a file: ``<path>: <what is wrong>``;
* ``UnicodeDecodeError``: the input is not UTF-8, with the byte offset;
* ``json.JSONDecodeError``: not valid JSON, with line and column;
* ``MemoryError`` and torch's out-of-memory error: what ran out and what to lower.

This module imports click only inside :func:`friendly` and :func:`run`, so library code may raise
:class:`StageError` without depending on click.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import click

DEBUG_ENV = "LISTDISTILL_DEBUG"
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")  # numpy's message for a write cut short


class StageError(Exception):
    """A failure the user can fix, raised by library code; the message is complete (names the path and says
    what is wrong), so it is printed as is."""


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _where(e: OSError) -> str:
    names = [n for n in (e.filename, e.filename2) if n]
    return " -> ".join(str(n) for n in names)


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
            return f"{what} while writing {where}" if where else f"{what} ({e})"
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
    """Run a stage's click command with :func:`friendly` errors (the ``__main__`` entry point)."""
    friendly(command)
    command.main(args=args if args is not None else sys.argv[1:])
    sys.exit(0)  # click's main exits itself; this is for the type checker
