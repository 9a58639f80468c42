"""What a training run reports (``metrics/train.json``) and the student's ``training.json``."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from listdistill.models import resolve_model
from listdistill.train.config import TrainConfig, TrainState
from listdistill.train.data import Example, ListStats

AGREEMENT = ("dev_teacher_ndcg10", "dev_source_rr10")  # query tower only (listdistill.train.objective.dev_agreement)


def by_type(dev: list[dict[str, Any]], step: int) -> dict[str, float]:
    """The configured loss by query type on the dev set at ``step`` (0: the zero-shot model)."""
    row = next((r for r in dev if r["step"] == step), {})
    return {k.split("@", 1)[1]: v for k, v in sorted(row.items()) if k.startswith("dev_loss@")}


def counts(train_ex: list[Example], dev_ex: list[Example], stats: ListStats) -> dict[str, Any]:
    """What metrics/train.json says of the lists trained on."""
    return {
        "train_queries": len(train_ex),
        "dev_queries": len(dev_ex),
        "train_queries_by_type": dict(sorted(Counter(e.query_type for e in train_ex).items())),
        "positives_added": stats.positive_added,
        "positives_moved": stats.positive_moved,
        "skipped_short_lists": stats.skipped_short,
    }


def training_record(cfg: TrainConfig, state: TrainState, summary: dict[str, Any],
                    model: str) -> tuple[dict[str, Any], str | None]:  # fmt: skip
    """The student's training.json (no times: deterministic) and, for the query tower, the folder of the passage
    encoder ``model`` (evaluate reuses the index's corpus embeddings of this model)."""
    training: dict[str, Any] = {"summary": summary, "config": dataclasses.asdict(cfg), "dev": state.dev}
    if cfg.tower != "query":
        return training, None
    training["passage_model"] = model
    return training, resolve_model(model).location


def summarise(cfg: TrainConfig, state: TrainState, counts: dict[str, Any], device: str, processes: int, *,
              query_mix: list[str], list_length: int, temperature_auto: bool) -> dict[str, Any]:  # fmt: skip
    """metrics/train.json: what was trained on and how the dev loss moved (no wall-clock times)."""
    best_row = next((r for r in state.dev if r["step"] == state.best_step and r["epoch"] > 0), {})
    zero_row = next((r for r in state.dev if r["epoch"] == 0), {})
    return {
        "loss": cfg.loss,
        "tower": cfg.tower,
        "wise_alpha": cfg.wise_alpha,
        "teacher_temperature": cfg.losses.teacher_temperature,
        "teacher_temperature_auto": temperature_auto,
        "query_mix": query_mix,
        **counts,
        "list_length": list_length,
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
