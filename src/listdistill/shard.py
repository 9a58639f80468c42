"""Sharding: run a heavy stage as N independent jobs and merge their parts into exactly an unsharded run's outputs.

A stage's work is a list of *units* that are processed independently and always in the same way, whatever the
number of shards: generate's batches (each generated with its own seed), mine's and score's chunks of queries
(``--queries-per-unit``: retrieval and teacher calls take whole chunks, so float rounding cannot depend on which
other queries share a job), index's passages. Shard ``i`` of ``N`` (0-based, written ``i/N``) takes the
contiguous, balanced range ``[i * n // N, (i + 1) * n // N)`` of the ``n`` units (:meth:`Shard.slice`).

A shard writes its part into ``<out>.shards/<i>-of-<N>/`` next to the stage's final output ``out``
(:func:`shard_dir`: ``data/mined/questions`` -> ``data/mined/questions.shards/1-of-3/``), and a manifest,
``shard.json``, last: a part without a manifest is incomplete. The manifest holds a fingerprint of the settings
and inputs that determine the part (:func:`fingerprint`); a merge recomputes it from its own command line and
refuses parts made with other settings or inputs (:func:`read_manifests`). The whole run, ``0/1``, writes the
final outputs directly and no part.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from listdistill.records import ShardManifest, read_manifest, write_manifest

MANIFEST = "shard.json"
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
T = TypeVar("T")


class ShardError(ValueError):
    """Shard parts are missing, incomplete or inconsistent with the merge."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` is the whole, unsharded run."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: expected 0 <= i < N with N >= 1")

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def name(self) -> str:
        """The part's folder name, ``<i>-of-<N>``."""
        return f"{self.index}-of-{self.count}"

    def slice(self, n: int) -> range:
        """This shard's contiguous range of ``n`` units; the N shards' ranges are balanced (sizes differ by at
        most one) and cover ``range(n)`` exactly once, in order (some are empty when N > n)."""
        return range(self.index * n // self.count, (self.index + 1) * n // self.count)

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's contiguous part of ``items`` (see :meth:`slice`)."""
        r = self.slice(len(items))
        return list(items[r.start : r.stop])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard()


def parse_shard(text: str) -> Shard:
    """``"1/3"`` -> ``Shard(1, 3)``; anything else is a ValueError naming the value and the expected form."""
    m = _SPEC.fullmatch(text)
    if m is None or not int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"shard {text!r}: expected 'i/N' with integers 0 <= i < N (e.g. 0/3, 1/3, 2/3)")
    return Shard(int(m.group(1)), int(m.group(2)))


def units(n: int, size: int) -> list[range]:
    """``range(n)`` cut into consecutive units of ``size`` items (the last may be shorter); ``size <= 0``: one."""
    if size <= 0 or n <= size:
        return [range(n)] if n else []
    return [range(s, min(s + size, n)) for s in range(0, n, size)]


def shard_dir(out: str | Path, shard: Shard) -> Path:
    """Where ``shard`` writes its part of the output ``out`` (a file or a folder): ``<out>.shards/<i>-of-<N>``."""
    out = Path(out)
    return out.parent / f"{out.name}.shards" / shard.name


def fingerprint(settings: Mapping[str, Any], *files: str | Path) -> str:
    """A hash of ``settings`` (JSON-serialisable) and of the contents of ``files``."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in files:
        with Path(path).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def begin_part(out: str | Path, shard: Shard) -> Path:
    """Create the part's folder and remove a manifest left by an earlier attempt; return the folder."""
    folder = shard_dir(out, shard)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    return folder


def finish_part(folder: Path, shard: Shard, key: str, units_total: int, **info: Any) -> None:
    """Write the manifest, marking the part complete (call after every file of the part is written)."""
    write_manifest(folder / MANIFEST, ShardManifest(str(shard), key, units_total, info))


def read_manifests(out: str | Path, count: int, key: str) -> list[tuple[Path, dict[str, Any]]]:
    """The folders and manifests of the ``count`` parts of ``out``, in shard order.

    Raises :class:`ShardError` naming every missing or incomplete part, or a part made with other settings or
    inputs than ``key`` describes, or parts that disagree on the number of units.
    """
    if count < 2:
        raise ShardError(f"merging needs N >= 2 parts, got {count}; the whole run (--shard 0/1) writes the outputs")
    parts = [(shard_dir(out, Shard(i, count)), Shard(i, count)) for i in range(count)]
    missing = [str(folder / MANIFEST) for folder, _ in parts if not (folder / MANIFEST).is_file()]
    if missing:
        raise ShardError(
            f"{len(missing)} of {count} shard part(s) of {out} missing or incomplete (no manifest): "
            f"{', '.join(missing)}; run each with --shard i/{count} first"
        )
    out_parts = []
    for folder, shard in parts:
        manifest = read_manifest(folder / MANIFEST)
        if manifest.shard != str(shard):
            raise ShardError(f"{folder / MANIFEST}: written by shard {manifest.shard!r}, expected {shard}")
        if manifest.fingerprint != key:
            raise ShardError(
                f"{folder}: made with other settings or inputs than this merge; "
                "rerun the shard with the same options and inputs as the merge"
            )
        out_parts.append((folder, manifest.to_json()))
    totals = {m["units"] for _, m in out_parts}
    if len(totals) != 1:
        raise ShardError(f"the parts of {out} disagree on the number of work units: {sorted(totals)}")
    return out_parts
