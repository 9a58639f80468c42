"""Click options shared by the stages that load the student encoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from listdistill.encoder import EncoderConfig


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
