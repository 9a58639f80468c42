"""The training config, the state a resumed run continues from, and the fingerprint that ties the two to a run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from listdistill.encoder import Encoder
from listdistill.losses import LossConfig
from listdistill.train.data import Example


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation; the data (query mix, list length, caps) is chosen before, by :func:`load_examples`. No
    defaults here: every field is a param (``Params.to_train`` builds it from ``loss``, ``seed`` and ``train``)."""

    loss: str
    seed: int
    epochs: int
    batch_size: int  # queries per optimizer step
    lr: float
    warmup_ratio: float
    weight_decay: float
    grad_clip: float  # max gradient norm; 0 disables clipping
    chunk_size: int  # texts per forward pass with a graph (gradient caching)
    patience: int  # dev evaluations without a better dev loss before stopping; 0 disables early stopping
    eval_every: int  # optimizer steps between dev evaluations (0: after each epoch only)
    select_by: str  # the dev measure that picks the best weights: dev_loss | dev_teacher_ndcg10 | ...
    bf16: bool
    gradient_checkpointing: bool
    max_steps: int  # stop after this many optimizer steps (0: run every epoch); for smoke runs
    tower: str  # both | query (the query encoder only, against frozen passage embeddings)
    wise_alpha: float  # WiSE-FT weight of the fine-tuned weights (1: no interpolation)
    checkpoint_every: int  # optimizer steps between resumable checkpoints (and after each epoch)
    losses: LossConfig


@dataclass
class TrainState:
    """Everything a resumed run needs besides the weights and optimizer: saved as ``state.json``."""

    fingerprint: str
    epoch: int = 0  # current epoch
    batch: int = 0  # next batch within the epoch
    step: int = 0  # optimizer steps done
    seconds: float = 0.0
    best_epoch: int = 0  # the epoch of the best dev evaluation; 0: no trained weights evaluated yet
    best_step: int = 0  # the step of the best dev evaluation
    best_dev_loss: float | None = None
    bad_epochs: int = 0  # dev evaluations since the best one
    finished: bool = False
    stopped_early: bool = False
    resumed_at_step: int | None = None
    curve: list[dict[str, float]] = field(default_factory=list)  # per step: step, epoch, loss, lr, grad_norm
    dev: list[dict[str, float]] = field(default_factory=list)  # per evaluation: epoch, step, dev_loss, dev_<name>


def fingerprint(cfg: TrainConfig, encoder: Encoder, train: Sequence[Example], dev: Sequence[Example]) -> str:
    """Identifies a run: a checkpoint is resumed only by a run with the same config, model and data."""
    h = hashlib.sha256()
    h.update(json.dumps({"train": asdict(cfg), "encoder": asdict(encoder.config)}, sort_keys=True).encode())
    for ex in [*train, None, *dev]:
        h.update(json.dumps(None if ex is None else asdict(ex)).encode())
    return h.hexdigest()[:16]
