"""Resumable checkpoints: the last step's weights, optimizer, scheduler, random state and :class:`TrainState`, and
the best epoch's weights."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from listdistill.io import write_json
from listdistill.train.config import TrainState


class Checkpoints:
    """``<dir>/last`` (weights, optimizer, scheduler, random state, state.json) and ``<dir>/best`` (weights),
    each written to a temporary folder first and renamed into place."""

    def __init__(self, folder: Path, writer: bool = True, barrier: Callable[[], None] = lambda: None) -> None:
        self.folder = folder
        self.writer = writer  # in a multi-process run only the main process writes; the others wait for it
        self.barrier = barrier

    def _swap(self, name: str, write: Callable[[Path], None]) -> None:
        if self.writer:
            self._write(name, write)
        self.barrier()

    def _write(self, name: str, write: Callable[[Path], None]) -> None:
        final, tmp, old = (self.folder / n for n in (name, f"{name}.tmp", f"{name}.old"))
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write(tmp)
        if final.exists():
            final.replace(old)
        tmp.replace(final)
        shutil.rmtree(old, ignore_errors=True)

    def _find(self, name: str) -> Path | None:
        for cand in (self.folder / name, self.folder / f"{name}.old"):
            if cand.is_dir():
                return cand
        return None

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
        """The saved state if it belongs to this run (same fingerprint); a foreign checkpoint is discarded."""
        last = self._find("last")
        if last is None or not (last / "state.json").is_file():
            return None
        state = TrainState(**json.loads((last / "state.json").read_text()))
        if state.fingerprint != fingerprint:
            if self.writer:
                self.clear()
            return None
        blobs = {
            "model": torch.load(last / "model.pt", map_location="cpu", weights_only=True),
            "optim": torch.load(last / "optim.pt", map_location="cpu", weights_only=True),
            "rng": torch.load(last / "rng.pt", map_location="cpu", weights_only=True),
        }
        return state, blobs

    def save_best(self, model: torch.nn.Module) -> None:
        self._swap("best", lambda tmp: torch.save(model.state_dict(), tmp / "model.pt"))

    def load_best(self) -> dict[str, torch.Tensor] | None:
        best = self._find("best")
        return torch.load(best / "model.pt", map_location="cpu", weights_only=True) if best else None

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
