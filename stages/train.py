"""train: fine-tune the student on the teacher-scored lists of the query types in the mix.

DVC cannot interpolate a list into ``cmd``, so the stage reads the top-level ``query_mix`` list from the params
file named by ``--params`` (or takes ``--query-mix`` options directly).

Data-parallel on several processes with the same arguments, e.g. ``torchrun --nproc_per_node 4 -m stages.train ...``
(gloo on CPU, NCCL on GPU; ``--train-batch-size`` stays the global batch): see :mod:`listdistill.distributed`.
Only rank 0 writes the model, metrics and checkpoints.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import click
import torch
import yaml

from listdistill import distributed
from listdistill.encoder import Encoder
from listdistill.io import atomic_open, read_docs, read_json, write_json
from listdistill.losses import LOSSES, LossConfig
from listdistill.models import resolve_model
from listdistill.train import (
    TOWERS,
    Checkpoints,
    FrozenPassages,
    TrainConfig,
    calibrate_teacher_temperature,
    cap,
    load_examples,
    save_student,
    train,
)
from stages.options import encoder_options, make_encoder_config

D, LD = TrainConfig(), LossConfig()


def read_query_mix(params: Path) -> list[str]:
    data = yaml.safe_load(params.read_text(encoding="utf-8")) or {}
    mix = data.get("query_mix")
    if not isinstance(mix, list) or not mix or not all(isinstance(t, str) for t in mix):
        raise click.BadParameter(f"{params}: 'query_mix' must be a non-empty list of query types, got {mix!r}")
    return mix


def by_type(dev: list[dict[str, Any]], epoch: int) -> dict[str, float]:
    """The configured loss by query type on the dev set of ``epoch`` (0: the zero-shot model)."""
    row = next((r for r in dev if r["epoch"] == epoch), {})
    return {k.split("@", 1)[1]: v for k, v in sorted(row.items()) if k.startswith("dev_loss@")}


def write_tsv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_open(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["step"], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


class TemperatureType(click.ParamType):
    """A positive float, or ``auto``."""

    name = "float|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | str:
        if isinstance(value, float) or value == "auto":
            return value
        try:
            t = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)
        if not t > 0:
            self.fail(f"a temperature must be > 0, got {t}", param, ctx)
        return t


def load_frozen(index_dir: Path | None, model: str) -> FrozenPassages:
    """The index stage's corpus embeddings, checked to come from the student being trained."""
    if index_dir is None:
        raise click.UsageError("--tower query trains against the index's corpus embeddings: give --index")
    meta = read_json(index_dir / "corpus_emb.json")
    if meta.get("model") != model:
        raise click.UsageError(
            f"{index_dir / 'corpus_emb.json'}: the corpus embeddings are of model {meta.get('model')!r}, "
            f"not of the student {model!r}; rerun the index stage"
        )
    return FrozenPassages.load(index_dir / "corpus_emb.npy", meta["doc_ids"])


@click.command(context_settings={"show_default": True})
@click.option("--scored", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--query-mix", multiple=True, help="Query types to train on (repeat); overrides --params.")
@click.option("--params", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Read query_mix here.")
@encoder_options
@click.option("--loss", type=click.Choice(sorted(LOSSES)), default=D.loss)
@click.option("--seed", type=int, default=D.seed)
@click.option("--epochs", type=click.IntRange(min=1), default=D.epochs)
@click.option(
    "--train-batch-size", type=click.IntRange(min=1), default=D.batch_size, help="Queries per optimizer step."
)
@click.option(
    "--list-length",
    type=click.IntRange(min=2),
    default=8,
    help="Passages per query list in training (positive included).",
)
@click.option("--train-passage-max-length", type=int, default=0, help="Passage tokens in training (0: as encoder).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=D.lr)
@click.option("--warmup-ratio", type=float, default=D.warmup_ratio)
@click.option("--weight-decay", type=float, default=D.weight_decay)
@click.option("--grad-clip", type=float, default=D.grad_clip, help="Max gradient norm (0: off).")
@click.option("--student-temperature", type=click.FloatRange(min=0, min_open=True), default=LD.student_temperature)
@click.option(
    "--teacher-temperature",
    type=TemperatureType(),
    default=str(LD.teacher_temperature),
    help="A temperature > 0, or auto: matched to the zero-shot student's sharpness on the training lists.",
)
@click.option("--infonce-temperature", type=click.FloatRange(min=0, min_open=True), default=LD.infonce_temperature)
@click.option("--infonce-weight", type=float, default=LD.infonce_weight)
@click.option("--false-negative-threshold", type=float, default=LD.false_negative_threshold)
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=D.chunk_size, help="Texts per forward pass with a graph."
)
@click.option("--patience", type=int, default=D.patience, help="Early stopping patience in epochs (0: off).")
@click.option("--bf16", type=click.Choice(["auto", "true", "false"]), default="auto", help="auto: on CUDA with bf16.")
@click.option("--gradient-checkpointing", type=bool, default=D.gradient_checkpointing)
@click.option("--max-train-queries", type=int, default=0, help="Seeded sample of this many queries (0: all).")
@click.option("--max-dev-queries", type=int, default=0)
@click.option("--max-steps", type=int, default=D.max_steps, help="Stop after this many steps (0: all epochs).")
@click.option(
    "--tower", type=click.Choice(TOWERS), default=D.tower, help="query: train the query encoder only (needs --index)."
)
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The index stage's folder: its corpus embeddings are the frozen passages of --tower query.",
)
@click.option(
    "--wise-alpha", type=click.FloatRange(0, 1), default=D.wise_alpha, help="WiSE-FT weight of the tuned model."
)
@click.option("--checkpoint-every", type=int, default=D.checkpoint_every)
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), required=True, help="Resumable checkpoints.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
@click.option("--curve", type=click.Path(path_type=Path), required=True, help="Per-step TSV: loss, lr.")
@click.option("--dev-curve", type=click.Path(path_type=Path), required=True, help="Per-epoch TSV: dev losses.")
def main(**kw: Any) -> None:
    enc = make_encoder_config(kw)
    if enc.device == "auto":
        enc = dataclasses.replace(enc, device="cuda" if torch.cuda.is_available() else "cpu")
    world = distributed.init_from_env(enc.device)
    enc = dataclasses.replace(enc, device=distributed.local_device(enc.device, world))
    bf16 = kw["bf16"] == "true" or (
        kw["bf16"] == "auto" and enc.device.startswith("cuda") and torch.cuda.is_bf16_supported()
    )
    mix = list(kw["query_mix"]) or (read_query_mix(kw["params"]) if kw["params"] else [])
    if not mix:
        raise click.UsageError("give --query-mix or --params (a file with a top-level query_mix list)")
    auto = kw["teacher_temperature"] == "auto"
    losses = LossConfig(**{k: kw[k] for k in LossConfig.__dataclass_fields__ if k != "teacher_temperature"})
    shared = set(TrainConfig.__dataclass_fields__) - {"bf16", "losses", "batch_size"}
    cfg = TrainConfig(**{k: kw[k] for k in shared}, batch_size=kw["train_batch_size"], bf16=bf16, losses=losses)
    docs = read_docs(kw["corpus"])
    texts = {d.doc_id: d.contents for d in docs}
    train_ex, train_stats = load_examples(kw["scored"], mix, "train", kw["list_length"], set(texts))
    dev_ex, _ = load_examples(kw["scored"], mix, "dev", kw["list_length"], set(texts))
    train_ex, dev_ex = cap(train_ex, kw["max_train_queries"], cfg.seed), cap(dev_ex, kw["max_dev_queries"], cfg.seed)

    frozen = load_frozen(kw["index_dir"], enc.model) if cfg.tower == "query" else None
    encoder = Encoder(enc)
    if kw["train_passage_max_length"] > 0:
        encoder.config = dataclasses.replace(enc, passage_max_length=kw["train_passage_max_length"])
    teacher_t = (
        calibrate_teacher_temperature(encoder, train_ex, texts, cfg, frozen) if auto else kw["teacher_temperature"]
    )
    cfg = dataclasses.replace(cfg, losses=dataclasses.replace(losses, teacher_temperature=teacher_t))
    ckpt_dir: Path = kw["checkpoint_dir"]
    try:
        state = train(encoder, train_ex, dev_ex, texts, cfg, ckpt_dir, world=world, frozen=frozen)
    except FloatingPointError as e:
        raise click.ClickException(str(e)) from e
    encoder.config = enc
    if not world.is_main:
        distributed.shutdown(world)
        return

    summary = {
        "loss": cfg.loss,
        "tower": cfg.tower,
        "wise_alpha": cfg.wise_alpha,
        "teacher_temperature": teacher_t,
        "teacher_temperature_auto": auto,
        "query_mix": mix,
        "train_queries": len(train_ex),
        "dev_queries": len(dev_ex),
        "train_queries_by_type": dict(sorted(Counter(e.query_type for e in train_ex).items())),
        "list_length": kw["list_length"],
        "positives_added": train_stats.positive_added,
        "positives_moved": train_stats.positive_moved,
        "skipped_short_lists": train_stats.skipped_short,
        "steps": state.step,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_dev_loss": state.best_dev_loss,
        "zero_shot_dev_loss": state.dev[0]["dev_loss"] if state.dev and state.dev[0]["epoch"] == 0 else None,
        "best_dev_loss_by_type": by_type(state.dev, state.best_epoch),
        "zero_shot_dev_loss_by_type": by_type(state.dev, 0),
        "stopped_early": state.stopped_early,
        "final_train_loss": state.curve[-1]["loss"] if state.curve else None,
        "bf16": cfg.bf16,
        "device": enc.device,
        "processes": world.size,
    }
    training = {"summary": summary, "config": dataclasses.asdict(cfg), "dev": state.dev, "seconds": state.seconds}
    if cfg.tower == "query":
        training["passage_model"] = enc.model  # evaluate reuses the index's corpus embeddings of this model
    passage_dir = resolve_model(enc.model).location if cfg.tower == "query" else None
    save_student(encoder, kw["out"], training, passage_model=passage_dir)
    write_json(kw["metrics"], summary)
    write_tsv(kw["curve"], state.curve)
    write_tsv(kw["dev_curve"], state.dev)
    Checkpoints(ckpt_dir).clear()
    distributed.shutdown(world)


if __name__ == "__main__":
    main()
