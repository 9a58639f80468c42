"""train: fine-tune the student on the teacher-scored lists of the query types in ``query_mix`` (``mix``'s folder).

Reads ``seed``, ``device``, ``loss``, ``query_mix``, ``student`` and ``train``. Data-parallel on several
processes with the same arguments, e.g. ``torchrun --nproc_per_node 4 -m stages.train ...`` (gloo on CPU, NCCL on
GPU; ``train.batch_size`` stays the global batch): see :mod:`listdistill.distributed`. Only rank 0 writes the
model, metrics and checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import click

from listdistill import distributed
from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.encoder import Encoder
from listdistill.errors import friendly
from listdistill.io import write_json, write_tsv
from listdistill.models import resolve_model
from listdistill.records import read_docs, read_embeddings
from listdistill.train import (
    Checkpoints,
    FrozenPassages,
    TrainConfig,
    TrainState,
    calibrate_teacher_temperature,
    cap,
    cap_per_type,
    load_examples,
    save_student,
    train,
)
from stages.options import params_options, read_params, stage_main

AGREEMENT = ("dev_teacher_ndcg10", "dev_source_rr10")  # query tower only (listdistill.train.objective.dev_agreement)


def by_type(dev: list[dict[str, Any]], step: int) -> dict[str, float]:
    """The configured loss by query type on the dev set at ``step`` (0: the zero-shot model)."""
    row = next((r for r in dev if r["step"] == step), {})
    return {k.split("@", 1)[1]: v for k, v in sorted(row.items()) if k.startswith("dev_loss@")}


def load_frozen(index_dir: Path | None, model: str, corpus: list[str], corpus_file: Path) -> FrozenPassages:
    """The index stage's corpus embeddings, checked against the corpus (:func:`~listdistill.records.read_embeddings`)
    and to come from the student being trained."""
    if index_dir is None:
        raise click.UsageError("train.tower query trains against the index's corpus embeddings: give --index")
    meta, _ = read_embeddings(index_dir / "corpus_emb.json", index_dir / "corpus_emb.npy", corpus, str(corpus_file))
    if meta.model != model:
        raise click.ClickException(
            f"{index_dir / 'corpus_emb.json'}: the corpus embeddings are of model {meta.model!r}, "
            f"not of the student {model!r}; rerun the index stage"
        )
    return FrozenPassages.load(index_dir / "corpus_emb.npy", meta.doc_ids)


def summarise(p: Params, cfg: TrainConfig, state: TrainState, counts: dict[str, Any], device: str,
              processes: int) -> dict[str, Any]:  # fmt: skip
    """metrics/train.json: what was trained on and how the dev loss moved (no wall-clock times)."""
    best_row = next((r for r in state.dev if r["step"] == state.best_step and r["epoch"] > 0), {})
    zero_row = next((r for r in state.dev if r["epoch"] == 0), {})
    return {
        "loss": cfg.loss,
        "tower": cfg.tower,
        "wise_alpha": cfg.wise_alpha,
        "teacher_temperature": cfg.losses.teacher_temperature,
        "teacher_temperature_auto": p.train.teacher_temperature == "auto",
        "query_mix": p.query_mix,
        **counts,
        "list_length": p.train.list_length,
        "steps": state.step,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_step": state.best_step,
        "select_by": cfg.select_by,
        "best_dev_loss": best_row.get("dev_loss"),
        "best_dev_agreement": {k: best_row[k] for k in AGREEMENT if k in best_row},
        "zero_shot_dev_agreement": {k: zero_row[k] for k in AGREEMENT if k in zero_row},
        "zero_shot_dev_loss": state.dev[0]["dev_loss"] if state.dev and state.dev[0]["epoch"] == 0 else None,
        "best_dev_loss_by_type": by_type(state.dev, state.best_step),
        "zero_shot_dev_loss_by_type": by_type(state.dev, 0),
        "stopped_early": state.stopped_early,
        "final_train_loss": state.curve[-1]["loss"] if state.curve else None,
        "bf16": cfg.bf16,
        "device": device,
        "processes": processes,
    }


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option(
    "--scored",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="Folder of <type>/{train,dev}.jsonl (the mix stage's).",
)
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The index stage's folder (train.tower query trains against its embeddings).",
)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=10, help="Steps between checkpoints.")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), required=True, help="Resumable checkpoints.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
@click.option("--curve", type=click.Path(path_type=Path), required=True, help="Per-step TSV: loss, lr.")
@click.option("--dev-curve", type=click.Path(path_type=Path), required=True, help="Per-epoch TSV: dev losses.")
def main(params_path: Path, overrides: tuple[str, ...], scored: Path, corpus: Path, index_dir: Path | None,
         checkpoint_every: int, checkpoint_dir: Path, out: Path, metrics: Path, curve: Path,
         dev_curve: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    enc = p.to_encoder()
    world = distributed.init_from_env(enc.device)
    enc = dataclasses.replace(enc, device=distributed.local_device(enc.device, world))
    cfg = p.to_train(enc.device, checkpoint_every)
    # every input checked against the others before any work (docs/formats.md)
    texts = {d.doc_id: d.contents for d in read_docs(corpus)}
    t = p.train
    seen: dict[str, Path] = {}  # a query id in two lists (train and dev) is an error
    train_ex, stats = load_examples(scored, p.query_mix, "train", t.list_length, set(texts), seen)
    dev_ex, _ = load_examples(scored, p.query_mix, "dev", t.list_length, set(texts), seen)
    train_ex = cap(cap_per_type(train_ex, t.max_queries_per_type, p.seed), t.max_train_queries, p.seed)
    dev_ex = cap(dev_ex, t.max_dev_queries, p.seed)

    frozen = load_frozen(index_dir, enc.model, list(texts), corpus) if cfg.tower == "query" else None
    encoder = Encoder(enc)
    if t.passage_max_length > 0:
        encoder.config = dataclasses.replace(enc, passage_max_length=t.passage_max_length)
    if t.teacher_temperature == "auto":
        auto = calibrate_teacher_temperature(encoder, train_ex, texts, cfg, frozen)
        cfg = dataclasses.replace(cfg, losses=dataclasses.replace(cfg.losses, teacher_temperature=auto))
    try:
        state = train(encoder, train_ex, dev_ex, texts, cfg, checkpoint_dir, world=world, frozen=frozen)
    except FloatingPointError as e:
        raise click.ClickException(str(e)) from e
    encoder.config = enc
    if not world.is_main:
        distributed.shutdown(world)
        return
    counts = {
        "train_queries": len(train_ex),
        "dev_queries": len(dev_ex),
        "train_queries_by_type": dict(sorted(Counter(e.query_type for e in train_ex).items())),
        "positives_added": stats.positive_added,
        "positives_moved": stats.positive_moved,
        "skipped_short_lists": stats.skipped_short,
    }
    summary = summarise(p, cfg, state, counts, enc.device, world.size)
    training = {"summary": summary, "config": dataclasses.asdict(cfg), "dev": state.dev}  # no times: deterministic
    passage_dir = None
    if cfg.tower == "query":
        training["passage_model"] = enc.model  # evaluate reuses the index's corpus embeddings of this model
        passage_dir = resolve_model(enc.model).location
    with stage_outputs(out, metrics, curve, dev_curve) as (tmp_out, tmp_metrics, tmp_curve, tmp_dev):
        save_student(encoder, tmp_out, training, passage_model=passage_dir)
        write_json(tmp_metrics, summary)
        write_tsv(tmp_curve, state.curve)
        write_tsv(tmp_dev, state.dev)
    Checkpoints(checkpoint_dir).clear()
    distributed.shutdown(world)


if __name__ == "__main__":
    stage_main(main)
