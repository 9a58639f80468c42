"""Click options shared by the stages: the student encoder, the teacher settings, sharding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from listdistill.encoder import EncoderConfig
from listdistill.shard import Shard, parse_shard


def encoder_options(f: Callable[..., Any]) -> Callable[..., Any]:
    d = EncoderConfig()
    opts = [
        click.option("--model", default=d.model, help="Student model reference (folder, pkg:..., hub id)."),
        click.option("--pooling", type=click.Choice(["auto", "mean", "cls"]), default=d.pooling),
        click.option("--normalize/--no-normalize", default=d.normalize),
        click.option("--query-prefix", default=d.query_prefix, help="Prefix or instruction for queries."),
        click.option("--passage-prefix", default=d.passage_prefix),
        click.option("--query-max-length", type=int, default=d.query_max_length),
        click.option("--passage-max-length", type=int, default=d.passage_max_length),
        click.option("--batch-size", type=int, default=d.batch_size),
        click.option("--device", default=d.device),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def make_encoder_config(kw: dict[str, Any]) -> EncoderConfig:
    keys = EncoderConfig.__dataclass_fields__
    return EncoderConfig(**{k: kw.pop(k) for k in list(kw) if k in keys})


def teacher_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Settings of the model-based and ensemble teachers, shared by score and evaluate (the kind is per stage)."""
    opts = [
        click.option("--teacher-model", default="", help="Model of the model-based kinds (folder, pkg:..., hub id)."),
        click.option(
            "--ensemble", default="0.5*bm25+0.5*dense", help="Ensemble members, '<weight>*<kind>' joined by '+'."
        ),
        click.option(
            "--normalise",
            type=click.Choice(["zscore", "minmax"]),
            default="zscore",
            help="Per-list normalisation of ensemble members.",
        ),
        click.option("--teacher-batch-size", type=int, default=16),
        click.option("--teacher-max-length", type=int, default=512),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


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
    opts = [
        click.option(
            "--shard",
            type=ShardType(),
            default="0/1",
            help="Run only shard i of N (0-based) and write its part under <out>.shards/<i>-of-<N>/; "
            "0/1 is the whole run, writing the final outputs.",
        ),
        click.option(
            "--merge",
            type=click.IntRange(min=0),
            default=0,
            help="Instead of running, merge the N parts under <out>.shards/ into the final outputs "
            "(the same options as the shards).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def check_shard_options(shard: Shard, merge: int) -> None:
    if merge and not shard.whole:
        raise click.UsageError(f"--shard {shard} and --merge {merge} exclude each other: run the parts, then merge")
    if merge == 1:
        raise click.UsageError("--merge needs N >= 2 parts; the whole run (--shard 0/1) writes the outputs")


def bm25_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Lucene BM25's k1 and b."""
    f = click.option("--bm25-b", type=float, default=0.4)(f)
    return click.option("--bm25-k1", type=float, default=0.9)(f)


def queries_per_unit_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--queries-per-unit``: the fixed chunk of queries processed together (``what``); shards take whole units."""
    return click.option(
        "--queries-per-unit",
        type=click.IntRange(min=1),
        default=1024,
        help=f"{what}; shards take whole units, so outputs do not depend on the shard count.",
    )
