"""What every stage shares: the validated params (``--params``, ``--set``) and the ``--shard``/``--merge`` plumbing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from listdistill.atomic import sweep
from listdistill.config import DEFAULT_PARAMS, ConfigError, Params, load_params
from listdistill.cost import write_cost
from listdistill.errors import run
from listdistill.shard import Shard, begin_part, fingerprint, finish_part, parse_shard, read_manifests

R = TypeVar("R")

_COST: dict[str, Path | None] = {"path": None}


def _remember_cost(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    _COST["path"] = value


def stage_main(command: click.Command) -> None:
    """A stage's ``__main__`` entry: :func:`listdistill.errors.run`, then, if the stage succeeded and was given
    ``--cost FILE``, its process's CPU, wall time and peak memory written there (:mod:`listdistill.cost`)."""
    try:
        run(command)
    except SystemExit as e:
        if e.code in (0, None) and _COST["path"] is not None:
            write_cost(_COST["path"])
        raise


def params_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--params FILE`` (default params.yaml) and repeated ``--set section.key=value`` overrides, read and
    validated into one :class:`Params` passed as ``params``; and ``--cost FILE`` (see :func:`stage_main`)."""
    f = click.option(
        "--cost",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_remember_cost,
        help="Write this run's CPU seconds, wall seconds and peak memory here (JSON) when it succeeds.",
    )(f)
    f = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a param for this run, e.g. --set train.lr=1e-4 (repeat).",
    )(f)
    return click.option(
        "--params",
        "params_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_PARAMS,
        help="The params file (one dataclass per section: src/listdistill/config/).",
    )(f)


def read_params(params_path: Path, overrides: tuple[str, ...]) -> Params:
    """The validated params (every bad key at once, the device included), read first by every stage; before that,
    what killed runs of any stage left is recovered (:func:`listdistill.atomic.sweep`)."""
    sweep()
    try:
        return load_params(params_path, overrides, machine=True)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e


class ShardType(click.ParamType):
    """``--shard i/N``: shard i of N, 0-based (see :mod:`listdistill.shard`)."""

    name = "i/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return parse_shard(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


def shard_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--shard i/N`` (run one part) and ``--merge N`` (merge the N parts into the final outputs)."""
    f = click.option(
        "--merge",
        type=click.IntRange(min=0),
        default=0,
        help="Instead of running, merge the N parts under <out>.shards/ into the final outputs (same params).",
    )(f)
    return click.option(
        "--shard",
        type=ShardType(),
        default="0/1",
        help="Run only shard i of N (0-based) into <out>.shards/<i>-of-<N>/; 0/1 is the whole run.",
    )(f)


@dataclass(frozen=True)
class ShardRun:
    """One run of a sharded stage: the whole run, one part (``--shard i/N``) or the merge (``--merge N``)."""

    shard: Shard
    merge: int
    out: Path
    key: str  # fingerprint of the settings and inputs that determine a part ("" for the whole run)

    @property
    def is_part(self) -> bool:
        return not self.shard.whole

    def parts(self) -> list[tuple[Path, dict[str, Any]]]:
        """The N parts' folders and manifests, checked to match this merge (errors: :class:`ShardError`)."""
        return read_manifests(self.out, self.merge, self.key)

    def begin(self) -> Path:
        """This part's folder, emptied of an earlier attempt's manifest."""
        return begin_part(self.out, self.shard)

    def finish(self, folder: Path, units: int, **info: Any) -> None:
        """Write the manifest last (a part without one is incomplete): ``units`` is the whole run's count."""
        finish_part(folder, self.shard, self.key, units, **info)

    def over_units(self, work: list[range], part: str, compute: Callable[[list[range]], R],
                   merge: Callable[[list[Path]], R],
                   save: Callable[[Path, list[range], R], object]) -> R | None:  # fmt: skip
        """A stage sharded over ``work``: the whole run's result (``compute`` over every unit, or ``merge`` of the
        N parts' ``part`` files), or None once this shard's part is written (``compute`` over its own units,
        ``save``d to ``<folder>/<part>``, then the manifest); the stage ends there."""
        if self.merge:
            return merge([folder / part for folder, _ in self.parts()])
        own = self.shard.take(work)
        result = compute(own)
        if not self.is_part:
            return result
        folder = self.begin()
        save(folder / part, own, result)
        self.finish(folder, len(work))
        click.echo(f"{self.out.name}: shard {self.shard}: {sum(len(u) for u in own)} queries to {folder}")
        return None


def shard_run(shard: Shard, merge: int, out: Path, settings: Any, *files: Path) -> ShardRun:
    """Check ``--shard``/``--merge`` and fingerprint ``settings`` and ``files`` when a part is run or merged."""
    if merge and not shard.whole:
        raise click.UsageError(f"--shard {shard} and --merge {merge} exclude each other: run the parts, then merge")
    if merge == 1:
        raise click.UsageError("--merge needs N >= 2 parts; the whole run (--shard 0/1) writes the outputs")
    if isinstance(settings, dict):  # parts may run on different devices (one GPU each)
        settings = {k: v for k, v in settings.items() if k != "device"}
    key = fingerprint(settings, *files) if merge or not shard.whole else ""
    return ShardRun(shard, merge, out, key)


def queries_per_unit_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--queries-per-unit``: the fixed chunk of queries processed together (``what``); shards take whole units."""
    return click.option(
        "--queries-per-unit",
        type=click.IntRange(min=1),
        default=1024,
        help=f"{what}; shards take whole units, so outputs do not depend on the shard count.",
    )
