"""Whole-stage atomic outputs: every output of a stage appears together, or none changes.

``io.atomic_open`` makes one file atomic; a stage writes several (``prepare``: the corpus, the queries, the qrels
and the pool), and a failure between two of them used to leave a new corpus beside an old pool.
:func:`stage_outputs` gives the stage a temporary path for each output, in a hidden staging folder beside it (so
on the same filesystem), and moves the set into place only when the block ends without an error::

    with stage_outputs(out / "corpus.jsonl", out / "pool.jsonl", index_dir) as (corpus, pool, index):
        write_jsonl(corpus, docs)          # each path does not exist yet: write a file or make a folder there
        ...

On success every written file is fsynced, each previous output is moved aside, the new one renamed in, and the
old ones deleted; if a rename fails half-way, the outputs already swapped are put back. On any error (``ENOSPC``,
a bad input, ``KeyboardInterrupt``) the staging folders are removed, the previous outputs are left byte-identical,
and the error is re-raised; an ``OSError`` without a file name (``f.write`` on a full disk) is given the
output's path, so the message can say where the disk filled up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from listdistill.errors import SHORT_WRITE

STAGE_PREFIX = ".stage-"  # staging folders are ``.<name>.stage-<pid>-<random>``
OLD_PREFIX = ".old-"


class MissingOutputError(FileNotFoundError):
    """A stage finished without writing one of the outputs it declared."""


def _staging_name(path: Path) -> str:
    return f".{path.name}{STAGE_PREFIX}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path) -> None:
    """Remove staging folders beside ``path`` left by a process that no longer runs (killed with SIGKILL)."""
    if not path.parent.is_dir():
        return
    for p in path.parent.glob(f".{path.name}{STAGE_PREFIX}*"):
        pid = p.name.removeprefix(f".{path.name}{STAGE_PREFIX}").split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def fsync_tree(path: Path) -> None:
    """fsync every regular file under ``path`` (or ``path`` itself) and every folder, so a rename that follows
    cannot expose data still in the page cache after a power cut."""
    if path.is_symlink():
        return
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                fsync_tree(p)
        fsync_dir(Path(root))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a folder; the data files were synced
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _check_disjoint(paths: list[Path]) -> None:
    resolved = [p.resolve() for p in paths]
    for i, a in enumerate(resolved):
        for b in resolved[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                raise ValueError(f"stage outputs overlap: {a} and {b}")


def _name_error(e: BaseException, outputs: list[Path], temps: tuple[Path, ...] = ()) -> None:
    """Give an anonymous ``OSError`` the outputs' path, and one naming a temporary path (removed when the error
    is reported) the output's path; numpy's short write (no errno) becomes ENOSPC."""
    if not isinstance(e, OSError):
        return
    if e.filename is not None:
        for tmp, final in zip(temps, outputs, strict=False):
            try:
                rel = Path(os.fsdecode(e.filename)).relative_to(tmp)
            except (TypeError, ValueError):
                continue
            e.filename = str(final / rel)
            break
        return
    if e.errno is None and SHORT_WRITE.match(str(e)):
        e.errno, e.strerror = errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({e})"
    if e.errno is not None:
        e.filename = str(outputs[0]) if len(outputs) == 1 else ", ".join(map(str, outputs))


def commit(pairs: list[tuple[Path, Path]]) -> None:
    """Move each ``(new, final)`` into place as one step: old outputs aside, new ones in, old ones deleted. If
    any rename fails, the ones done are undone and the error re-raised (the new trees are left for the caller)."""
    done: list[tuple[Path, Path, Path | None]] = []  # (new, final, old moved aside)
    try:
        for new, final in pairs:
            old = None
            if final.exists() or final.is_symlink():
                old = final.with_name(f".{final.name}{OLD_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
                os.replace(final, old)
            done.append((new, final, old))
            os.replace(new, final)
    except BaseException:
        for new, final, old in reversed(done):
            if not new.exists() and (final.exists() or final.is_symlink()):
                os.replace(final, new)
            if old is not None:
                os.replace(old, final)
        raise
    for parent in {final.parent for _, final in pairs}:
        fsync_dir(parent)
    for _, _, old in done:
        if old is not None:
            _remove(old)


@contextlib.contextmanager
def stage_outputs(*outputs: str | Path) -> Iterator[tuple[Path, ...]]:
    """Yield one temporary path per output (same order); move them all into place when the block succeeds.

    Each temporary path is ``<staging folder>/<output name>`` and does not exist yet: the stage writes a file
    there or makes a folder (its parent exists). Every declared output must be written, else
    :class:`MissingOutputError` is raised and nothing changes.
    """
    finals = [Path(o) for o in outputs]
    if not finals:
        raise ValueError("stage_outputs needs at least one output")
    _check_disjoint(finals)
    stagings: list[Path] = []
    temps: tuple[Path, ...] = ()
    try:
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(final)
            stagings.append(Path(tempfile.mkdtemp(prefix=_staging_name(final), dir=final.parent)))
        temps = tuple(s / f.name for s, f in zip(stagings, finals, strict=True))
        yield temps
        for tmp, final in zip(temps, finals, strict=True):
            if not (tmp.exists() or tmp.is_symlink()):
                raise MissingOutputError(f"{final}: the stage finished without writing this output")
        for tmp in temps:
            fsync_tree(tmp)
        commit(list(zip(temps, finals, strict=True)))
    except BaseException as e:
        _name_error(e, finals, temps)
        raise
    finally:
        for s in stagings:
            shutil.rmtree(s, ignore_errors=True)
