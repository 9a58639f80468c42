"""The training loop: AdamW, linear warmup then linear decay, gradient clipping, optional bf16 autocast and gradient
checkpointing, a dev loss after each epoch, early stopping with patience, the best epoch's weights kept, and a
checkpoint folder from which an interrupted run resumes where it stopped."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from listdistill.distributed import SINGLE, World
from listdistill.encoder import Encoder
from listdistill.gradcache import cached_step
from listdistill.losses import get_loss
from listdistill.train.checkpoints import Checkpoints
from listdistill.train.config import TrainConfig, TrainState, fingerprint
from listdistill.train.data import Batch, Example, dev_batches, epoch_batches, make_batch
from listdistill.train.objective import dev_losses, make_loss
from listdistill.train.optim import linear_schedule, make_optimizer
from listdistill.train.towers import TOWERS, FrozenPassages, interpolate


def enable_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass (transformers >= 5 calls it activation checkpointing)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def train(
    encoder: Encoder,
    train_examples: Sequence[Example],
    dev_examples: Sequence[Example],
    texts: Mapping[str, str],
    cfg: TrainConfig,
    checkpoint_dir: Path,
    on_step: Callable[[TrainState], None] | None = None,
    world: World = SINGLE,
    frozen: FrozenPassages | None = None,
) -> TrainState:
    """Train ``encoder`` in place; on return it holds the best epoch's weights (by dev loss; the last epoch's
    without dev data). Resumes from ``checkpoint_dir`` when it holds a checkpoint of the same run.

    Under torchrun, every process calls this with the same data and ``world`` (see
    :mod:`listdistill.distributed`): they share out each global batch, sum gradients and take identical steps;
    only the main process writes checkpoints (``checkpoint_dir`` must be on a filesystem they all see).

    With ``cfg.tower == "query"``, ``frozen`` holds the passage embeddings the queries are scored against."""
    _check_inputs(train_examples, cfg, frozen)
    model = encoder.model
    zero_shot = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg.wise_alpha < 1 else {}
    if cfg.gradient_checkpointing:
        enable_checkpointing(model)
    torch.manual_seed(cfg.seed + world.rank)  # dropout: one stream per process
    world.broadcast_parameters(model)
    steps_per_epoch = math.ceil(len(train_examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    total = min(total, cfg.max_steps) if cfg.max_steps > 0 else total
    optimizer = make_optimizer(model, cfg)
    scheduler = linear_schedule(optimizer, math.ceil(cfg.warmup_ratio * total), total)
    dev = dev_batches(dev_examples, cfg.batch_size, texts)
    ckpt = Checkpoints(checkpoint_dir, writer=world.is_main, barrier=world.barrier)
    state = TrainState(fingerprint(cfg, encoder, train_examples, dev_examples))
    loaded = ckpt.load_last(state.fingerprint)
    world.barrier()  # a foreign checkpoint is cleared before anyone writes
    if loaded is not None:
        state, blobs = loaded
        _restore(blobs, model, optimizer, scheduler)
        state.resumed_at_step = state.step
    elif dev:
        state.dev.append({"epoch": 0, "step": 0, **_dev_row(dev_losses(encoder, dev, cfg, world, frozen), cfg.loss)})

    start = time.monotonic() - state.seconds
    bar = tqdm(total=total, initial=state.step, desc=f"train ({cfg.loss})", unit="step", disable=not world.is_main)
    try:  # closed on an error too, so the error message starts on its own line
        while not state.finished:
            batches = epoch_batches(len(train_examples), cfg.batch_size, cfg.seed, state.epoch)
            while state.batch < len(batches) and state.step < total:
                model.train()
                batch = make_batch([train_examples[i] for i in batches[state.batch]], texts)
                loss, norm, lr = _step(encoder, batch, cfg, optimizer, scheduler, state.step + 1, world, frozen)
                state.step += 1
                state.batch += 1
                state.curve.append(
                    {
                        "step": state.step,
                        "epoch": state.epoch + 1,
                        "loss": round(loss, 6),
                        "lr": float(f"{lr:.6g}"),
                        "grad_norm": round(norm, 6),
                    }
                )
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", epoch=state.epoch + 1)
                if on_step is not None:
                    on_step(state)
                if dev and cfg.eval_every and state.step % cfg.eval_every == 0 and state.batch < len(batches):
                    _evaluate(state, encoder, dev, cfg, ckpt, world, frozen, epoch=state.epoch + 1)
                    if state.stopped_early:
                        break
                if state.step % cfg.checkpoint_every == 0:
                    state.seconds = time.monotonic() - start
                    ckpt.save_last(state, model, optimizer, scheduler)
            _end_epoch(state, encoder, dev, cfg, ckpt, total, len(batches), world, frozen)
            state.seconds = time.monotonic() - start
            ckpt.save_last(state, model, optimizer, scheduler)
    finally:
        bar.close()
    best = ckpt.load_best()
    if best is not None:
        model.load_state_dict(best)
    if zero_shot:
        model.load_state_dict(interpolate(zero_shot, model.state_dict(), cfg.wise_alpha))
    model.eval()
    return state


def _check_inputs(train_examples: Sequence[Example], cfg: TrainConfig, frozen: FrozenPassages | None) -> None:
    if not train_examples:
        raise ValueError("no training examples: check the scored lists and the query_mix")
    get_loss(cfg.loss)  # fail early on an unknown name
    if cfg.tower not in TOWERS:
        raise ValueError(f"tower must be one of {TOWERS}, got {cfg.tower!r}")
    if (cfg.tower == "query") != (frozen is not None):
        raise ValueError("tower 'query' trains against frozen passage embeddings: pass them (and only then)")


def _restore(blobs: Mapping[str, Any], model: torch.nn.Module, optimizer: Any, scheduler: Any) -> None:
    """Load a checkpoint's weights, optimizer, scheduler and random state (see :meth:`Checkpoints.load_last`)."""
    model.load_state_dict(blobs["model"])
    optimizer.load_state_dict(blobs["optim"]["optimizer"])
    scheduler.load_state_dict(blobs["optim"]["scheduler"])
    torch.set_rng_state(blobs["rng"]["cpu"])
    if "cuda" in blobs["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blobs["rng"]["cuda"])


def _step(
    encoder: Encoder,
    batch: Batch,
    cfg: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    step: int,
    world: World,
    frozen: FrozenPassages | None,
) -> tuple[float, float, float]:
    """One optimizer step (number ``step``) on ``batch``: the loss, the gradient norm before clipping and the
    learning rate the step used. A non-finite loss or norm raises before the weights change."""
    loss_fn = make_loss(cfg, batch)
    fixed = frozen.lookup(batch.passage_ids) if frozen is not None else None  # (U, d)
    loss = cached_step(encoder, batch.queries, batch.passages, loss_fn, cfg.chunk_size, cfg.bf16, world, fixed)
    norm = torch.nn.utils.clip_grad_norm_(encoder.model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    if not (math.isfinite(loss) and math.isfinite(float(norm))):
        raise FloatingPointError(
            f"training diverged at step {step}: loss {loss}, gradient norm {float(norm)} "
            "(check the temperatures and the learning rate); nothing was saved"
        )
    lr = float(scheduler.get_last_lr()[0])
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss, float(norm), lr


def _dev_row(losses: dict[str, float], name: str) -> dict[str, float]:
    """The configured loss as ``dev_loss``, every loss as ``dev_<loss>``, the configured loss by type as
    ``dev_loss@<type>``."""
    by_type = {f"dev_loss@{k.split('@', 1)[1]}": v for k, v in losses.items() if k.startswith(f"{name}@")}
    return {"dev_loss": losses[name], **{f"dev_{k}": v for k, v in losses.items() if "@" not in k}, **by_type}


def _evaluate(
    state: TrainState,
    encoder: Encoder,
    dev: Sequence[Batch],
    cfg: TrainConfig,
    ckpt: Checkpoints,
    world: World,
    frozen: FrozenPassages | None,
    epoch: int,
) -> None:
    """One dev evaluation at ``state.step``: a dev row, the best weights kept (by ``cfg.select_by``: the dev loss,
    or a dev agreement measure, negated so that lower is better in ``state.best_dev_loss``), early stopping after
    ``patience`` evaluations without a better one."""
    row = _dev_row(dev_losses(encoder, dev, cfg, world, frozen), cfg.loss)
    state.dev.append({"epoch": epoch, "step": state.step, **row})
    if cfg.select_by not in row:
        raise ValueError(f"select_by {cfg.select_by!r} is not a dev measure here ({sorted(row)}); the agreement "
                         "measures need train.tower query")  # fmt: skip
    value = row[cfg.select_by] * (1 if cfg.select_by == "dev_loss" else -1)  # lower is better
    if state.best_dev_loss is None or value < state.best_dev_loss:
        state.best_dev_loss, state.best_epoch, state.best_step, state.bad_epochs = value, epoch, state.step, 0
        ckpt.save_best(encoder.model)
    else:
        state.bad_epochs += 1
        state.stopped_early = cfg.patience > 0 and state.bad_epochs >= cfg.patience


def _end_epoch(
    state: TrainState,
    encoder: Encoder,
    dev: Sequence[Batch],
    cfg: TrainConfig,
    ckpt: Checkpoints,
    total: int,
    n: int,
    world: World = SINGLE,
    frozen: FrozenPassages | None = None,
) -> None:
    """Close an epoch (or a run cut short by max_steps or early stopping): a dev evaluation unless one was just made
    at this step, the best weights, early stopping."""
    epoch_done = state.batch >= n
    state.epoch += 1
    state.batch = 0
    if dev:
        if not (state.dev and state.dev[-1]["step"] == state.step):
            _evaluate(state, encoder, dev, cfg, ckpt, world, frozen, epoch=state.epoch)
    else:
        state.best_epoch, state.best_step = state.epoch, state.step
    state.finished = state.stopped_early or state.step >= total or (epoch_done and state.epoch >= cfg.epochs)
