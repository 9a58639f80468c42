"""Resumable checkpoints: the last step's weights, optimizer, scheduler, random state and :class:`TrainState`, and
the best epoch's weights.

Each checkpoint is written whole into a new folder beside the current one (``last-<token>/``, ``best-<token>/``),
fsynced, then made current by one atomic rename: a small pointer file (``last.json``: ``{"folder":
"last-<token>"}``) is replaced, and only then is the previous folder removed. A kill at any instant (SIGKILL, a
power cut) therefore leaves either the previous checkpoint or the new one current, whole; what it leaves beside
them (a half-written folder, a superseded one, a pointer's temporary file, and the ``last.tmp``/``last.old``
folders of the former rename-based layout, whose own rotation could strand ``last.old``) is removed by
:meth:`Checkpoints.recover` when the next run starts. A checkpoint that cannot be read (written by another
version, damaged by hand) is discarded with a note and training starts over: the same run gives the same result.
A full disk while saving is an ``OSError(ENOSPC)`` naming the checkpoint folder, and the previous checkpoint stays.
"""

from __future__ import annotations

import json
import pickle
import re
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from listdistill.atomic import fsync_dir, fsync_tree
from listdistill.errors import as_full_disk
from listdistill.io import write_json
from listdistill.train.config import TrainState

NAMES = ("last", "best")
# what this class writes: the checkpoint folders (and the former layout's), the pointers' temporary files
OWNED = re.compile(r"^(last|best)(-[0-9a-f]+|\.tmp|\.old)?$|^\.(last|best)\.json\..+\.tmp$")
UNREADABLE = (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError, pickle.UnpicklingError)


class Checkpoints:
    """``<dir>/last`` (weights, optimizer, scheduler, random state, state.json) and ``<dir>/best`` (weights), each
    switched in by its pointer file (the module docstring)."""

    def __init__(self, folder: Path, writer: bool = True, barrier: Callable[[], None] = lambda: None) -> None:
        self.folder = folder
        self.writer = writer  # in a multi-process run only the main process writes; the others wait for it
        self.barrier = barrier

    def _pointer(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def current(self, name: str) -> Path | None:
        """The folder of the current ``name`` checkpoint: the pointer's, else one of the former layout (``<name>``,
        or ``<name>.old`` when a run was stopped between that layout's two renames)."""
        try:
            target = json.loads(self._pointer(name).read_text(encoding="utf-8"))["folder"]
            if isinstance(target, str) and Path(target).name == target and (self.folder / target).is_dir():
                return self.folder / target
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return next((p for p in (self.folder / name, self.folder / f"{name}.old") if p.is_dir()), None)

    def recover(self) -> None:
        """Remove what a stopped run left: every checkpoint folder or pointer temporary but the current ones
        (writer only; other files in the folder are not this class's and stay)."""
        if not self.writer or not self.folder.is_dir():
            return
        keep = {p for p in map(self.current, NAMES) if p is not None} | {self._pointer(n) for n in NAMES}
        for p in self.folder.iterdir():
            if p in keep or not OWNED.match(p.name):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)

    def _swap(self, name: str, write: Callable[[Path], None]) -> None:
        if self.writer:
            self._write(name, write)
        self.barrier()

    def _write(self, name: str, write: Callable[[Path], None]) -> None:
        old = self.current(name)
        new = self.folder / f"{name}-{secrets.token_hex(4)}"
        new.mkdir(parents=True)
        try:
            write(new)
            fsync_tree(new)
            write_json(self._pointer(name), {"folder": new.name})  # the switch: one atomic rename
            fsync_dir(self.folder)
        except BaseException as e:
            full = as_full_disk(e, self.folder)  # before the partial folder is removed: the disk is still full
            shutil.rmtree(new, ignore_errors=True)
            if isinstance(e, OSError) and (e.filename is None or str(new) in str(e.filename)):
                e.filename, e.filename2 = str(self.folder), None  # the folder the user gave, not the gone one
            if full is not None:
                raise full from e
            raise
        if old is not None and old != new:
            shutil.rmtree(old, ignore_errors=True)

    def save_last(self, state: TrainState, model: torch.nn.Module, opt: Any, sched: Any) -> None:
        def write(tmp: Path) -> None:
            torch.save(model.state_dict(), tmp / "model.pt")
            torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp / "optim.pt")
            rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
            if torch.cuda.is_available():
                rng["cuda"] = torch.cuda.get_rng_state_all()
            torch.save(rng, tmp / "rng.pt")
            write_json(tmp / "state.json", asdict(state))

        self._swap("last", write)

    def load_last(self, fingerprint: str) -> tuple[TrainState, dict[str, Any]] | None:
        """The saved state if it belongs to this run (same fingerprint); a foreign or unreadable checkpoint is
        discarded. What a stopped run left beside the checkpoints is removed first (:meth:`recover`)."""
        self.recover()
        last = self.current("last")
        if last is None:
            return None
        try:
            state = TrainState(**json.loads((last / "state.json").read_text(encoding="utf-8")))
            if state.fingerprint != fingerprint:
                self._discard()
                return None
            blobs = {
                "model": torch.load(last / "model.pt", map_location="cpu", weights_only=True),
                "optim": torch.load(last / "optim.pt", map_location="cpu", weights_only=True),
                "rng": torch.load(last / "rng.pt", map_location="cpu", weights_only=True),
            }
        except UNREADABLE as e:
            print(f"note: {last}: unreadable checkpoint discarded, training starts over ({e})", file=sys.stderr)
            self._discard()
            return None
        return state, blobs

    def _discard(self) -> None:
        if self.writer:
            self.clear()

    def save_best(self, model: torch.nn.Module) -> None:
        self._swap("best", lambda tmp: torch.save(model.state_dict(), tmp / "model.pt"))

    def load_best(self) -> dict[str, torch.Tensor] | None:
        best = self.current("best")
        return torch.load(best / "model.pt", map_location="cpu", weights_only=True) if best else None

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
