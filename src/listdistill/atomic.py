"""Whole-stage atomic outputs: every output of a stage appears together, or none changes, whenever the stage is
stopped (an error, Ctrl-C, SIGTERM, SIGKILL or a power cut).

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
and the error is re-raised; an ``OSError`` without a file name (``f.write`` on a full disk), or naming a staging
path, is given the output's path, and a library's own full-disk error becomes an ``OSError(ENOSPC)`` naming it, so
the message says where (:func:`listdistill.errors.as_full_disk`).

A killed process cannot clean up, so each set of outputs is recorded while it is staged in a small journal, one
file per set in :func:`registry` (outside the project, so neither DVC nor git sees it): its staging folders, and
while it is being committed, where each previous output was moved. :func:`sweep`, run by every stage before it
starts (``stages/options.read_params``) and by :func:`stage_outputs`, recovers the sets of processes that no
longer run: staging folders are removed, and a commit cut short is rolled back (the previous outputs put back), so
the outputs are always a whole old set or a whole new one. Staging folders left beside an output with no journal
(the journal's temporary folder was cleared) are removed by the next :func:`stage_outputs` of that output.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from listdistill.errors import FULL_DISK, SHORT_WRITE, as_full_disk, on_abort

STAGE_PREFIX = ".stage-"  # staging folders are ``.<name>.stage-<pid>-<random>``
OLD_PREFIX = ".old-"  # previous outputs moved aside while a set is committed: ``.<name>.old-<pid>-<random>``
REGISTRY_ENV = "LISTDISTILL_STAGING_REGISTRY"
_LOCK = threading.RLock()  # held while a set is committed, so the signal watchdog never cuts a commit short
_ACTIVE: dict[str, _Journal] = {}  # this process's staged sets, by journal name


class MissingOutputError(FileNotFoundError):
    """A stage finished without writing one of the outputs it declared."""


def registry() -> Path:
    """The folder of the staging journals: ``$LISTDISTILL_STAGING_REGISTRY``, else a per-user folder in the
    system's temporary folder."""
    env = os.environ.get(REGISTRY_ENV)
    return Path(env) if env else Path(tempfile.gettempdir()) / f"listdistill-{os.getuid()}" / "staging"


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


def _dead(pid_text: str) -> bool:
    return pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))


@dataclass
class _Output:
    final: str
    staging: str  # the staging folder; the new output is staging/<name of final>
    old: str  # where the previous output goes while the set is committed
    had_old: bool = False


@dataclass
class _Journal:
    """One staged set of outputs (a file in :func:`registry`)."""

    pid: int
    outputs: list[_Output]
    state: str = "writing"  # writing | committing | committed
    name: str = field(default_factory=lambda: f"{os.getpid()}-{secrets.token_hex(6)}.json")

    def save(self, state: str) -> None:
        """Record the set in :func:`registry`; where that folder cannot be written (a read-only temporary folder),
        the set goes unrecorded, and what a kill leaves is recovered beside the outputs (:func:`remove_stale`)."""
        self.state = state
        folder = registry()
        tmp = folder / f".{self.name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
            os.replace(tmp, folder / self.name)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            (registry() / self.name).unlink()

    @classmethod
    def load(cls, path: Path) -> _Journal | None:
        try:
            o = json.loads(path.read_text(encoding="utf-8"))
            return cls(o["pid"], [_Output(**x) for x in o["outputs"]], o["state"], o["name"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def recover(self) -> None:
        """Undo what a process that stopped left of this set: roll a cut-short commit back, remove the staging
        folders and, after a whole commit, the previous outputs."""
        for out in reversed(self.outputs):
            final, old = Path(out.final), Path(out.old)
            if self.state == "committing":
                new_moved = not (Path(out.staging) / final.name).exists()
                if old.exists() or old.is_symlink():
                    _remove(final)
                    os.replace(old, final)
                elif not out.had_old and new_moved:
                    _remove(final)
            elif self.state == "committed":
                _remove(old)
            _remove(Path(out.staging))


def sweep() -> None:
    """Recover every staged set of a process that no longer runs (the module docstring); never fails."""
    folder = registry()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        journal = _Journal.load(path)
        if journal is None or not _dead(str(journal.pid)):
            continue
        with contextlib.suppress(OSError):
            journal.recover()
            path.unlink()
    for tmp in sorted(folder.glob(".*.json.tmp")):  # a journal cut short while being written (its set unrecorded)
        if _dead(tmp.name[1:].split("-", 1)[0]):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _abandon() -> None:
    """The signal watchdog's cleanup (:func:`listdistill.errors.on_abort`): this process's staged sets, as if it
    had been killed (waits for a commit in progress)."""
    locked = _LOCK.acquire(timeout=10)
    try:
        for journal in list(_ACTIVE.values()):
            with contextlib.suppress(OSError):
                journal.recover()
                journal.remove()
    finally:
        if locked:
            _LOCK.release()


on_abort(_abandon)


def remove_stale(path: Path) -> None:
    """Beside ``path``: remove staging folders left by a process that no longer runs, and put back a previous
    output moved aside by one (when ``path`` is missing; otherwise it was replaced, and the old copy is removed)."""
    if not path.parent.is_dir():
        return
    for p in path.parent.glob(f".{path.name}{STAGE_PREFIX}*"):
        if _dead(p.name.removeprefix(f".{path.name}{STAGE_PREFIX}").split("-", 1)[0]):
            shutil.rmtree(p, ignore_errors=True)
    for p in path.parent.glob(f".{path.name}{OLD_PREFIX}*"):
        if _dead(p.name.removeprefix(f".{path.name}{OLD_PREFIX}").split("-", 1)[0]):
            if path.exists() or path.is_symlink():
                _remove(p)
            else:
                os.replace(p, path)


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


def _final_path(name: str | bytes | int, outputs: list[Path], stagings: list[Path]) -> str | None:
    """The output path a path inside a staging folder stands for (None: not in one)."""
    for staging, final in zip(stagings, outputs, strict=False):
        try:
            rel = Path(os.fsdecode(name)).relative_to(staging)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        inside = Path(*rel.parts[1:]) if rel.parts and rel.parts[0] == final.name else None
        return str(final / inside) if inside is not None and inside.parts else str(final)
    return None


def _name_error(e: BaseException, outputs: list[Path], stagings: list[Path]) -> BaseException:
    """The error to raise for ``e``: a library's full-disk error as ``OSError(ENOSPC)`` naming the outputs; an
    anonymous ``OSError`` given the outputs' path, one naming a path in a staging folder (removed when the error is
    reported) given its output's path (a copy that filled the disk: only its destination); numpy's short write
    (no errno) becomes ENOSPC."""
    named = ", ".join(map(str, outputs))
    if not isinstance(e, OSError):
        return as_full_disk(e, outputs[0] if len(outputs) == 1 else named) or e
    if e.errno is None and SHORT_WRITE.match(str(e)):
        e.errno, e.strerror = errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({e})"
    if e.filename2 is not None and e.errno in FULL_DISK:  # shutil.copyfile(src, dst): the disk of dst filled up
        e.filename, e.filename2 = e.filename2, None
    if e.filename is None and e.errno is not None:
        e.filename = str(outputs[0]) if len(outputs) == 1 else named
        return e
    for attr in ("filename", "filename2"):
        name = getattr(e, attr)
        final = _final_path(name, outputs, stagings) if name is not None else None
        if final is not None:
            setattr(e, attr, final)
    return e


def commit(pairs: list[tuple[Path, Path]], journal: _Journal | None = None) -> None:
    """Move each ``(new, final)`` into place as one step: old outputs aside, new ones in, old ones deleted. If
    any rename fails, the ones done are undone and the error re-raised (the new trees are left for the caller).
    With a ``journal``, each state is recorded first, so that :func:`sweep` can roll back a killed commit."""
    olds = [
        (
            journal.outputs[i].old
            if journal
            else f"{final.parent}/.{final.name}{OLD_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        )
        for i, (_, final) in enumerate(pairs)
    ]
    if journal is not None:
        for out, (_, final) in zip(journal.outputs, pairs, strict=True):
            out.had_old = final.exists() or final.is_symlink()
        journal.save("committing")
    done: list[tuple[Path, Path, Path | None]] = []  # (new, final, old moved aside)
    try:
        for (new, final), old_name in zip(pairs, olds, strict=True):
            old = None
            if final.exists() or final.is_symlink():
                old = Path(old_name)
                os.replace(final, old)
            done.append((new, final, old))
            os.replace(new, final)
    except BaseException:
        for new, final, old in reversed(done):
            if not new.exists() and (final.exists() or final.is_symlink()):
                os.replace(final, new)
            if old is not None:
                os.replace(old, final)
        if journal is not None:
            journal.save("writing")
        raise
    for parent in {final.parent for _, final in pairs}:
        fsync_dir(parent)
    if journal is not None:
        journal.save("committed")
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
    sweep()
    stagings: list[Path] = []
    temps: tuple[Path, ...] = ()
    journal = _Journal(os.getpid(), [])
    try:
        with _LOCK:  # the watchdog sees the set only once its journal lists every staging folder
            for final in finals:
                final.parent.mkdir(parents=True, exist_ok=True)
                remove_stale(final)
                stagings.append(Path(tempfile.mkdtemp(prefix=_staging_name(final), dir=final.parent)))
                old = final.with_name(f".{final.name}{OLD_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
                journal.outputs.append(
                    _Output(str(final.absolute()), str(stagings[-1].absolute()), str(old.absolute()))
                )
                journal.save("writing")
            _ACTIVE[journal.name] = journal
        temps = tuple(s / f.name for s, f in zip(stagings, finals, strict=True))
        yield temps
        for tmp, final in zip(temps, finals, strict=True):
            if not (tmp.exists() or tmp.is_symlink()):
                raise MissingOutputError(f"{final}: the stage finished without writing this output")
        for tmp in temps:
            fsync_tree(tmp)
        with _LOCK:
            commit(list(zip(temps, finals, strict=True)), journal)
    except BaseException as e:
        named = _name_error(e, finals, stagings)
        if named is not e:
            raise named from e
        raise
    finally:
        with _LOCK:
            for s in stagings:
                shutil.rmtree(s, ignore_errors=True)
            journal.remove()
            _ACTIVE.pop(journal.name, None)
