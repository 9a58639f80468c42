"""Fine-tune the student on teacher-scored candidate lists.

Input (one folder per query type, written by the ``score`` stage): ``<scored>/<type>/{train,dev}.jsonl``, records
``{"query_id", "text", "query_type", "source_doc_id", "candidates": [{"doc_id", "teacher_score", "raw_score"}]}``
with candidates in candidate order and ``teacher_score`` normalised to [0, 1]. The source passage is the positive.

Each query becomes a list of ``list_length`` passages: the first candidates, the positive always among them. A
batch of ``B`` queries is embedded as ``B`` queries and the batch's distinct passages; every query is scored against
every passage of every list in the batch (``B * L`` columns), which gives listwise losses their own list and
InfoNCE its in-batch negatives (see :mod:`listdistill.losses`). Gradients come from chunked gradient caching
(:mod:`listdistill.gradcache`), so the loss sees the whole batch whatever the chunk size.

The loop: AdamW, linear warmup then linear decay, gradient clipping, optional bf16 autocast and gradient
checkpointing, a dev loss after each epoch, early stopping with patience, the best epoch's weights kept, and a
checkpoint folder from which an interrupted run resumes where it stopped.

Towers (``TrainConfig.tower``): ``both`` trains one shared encoder on queries and passages; ``query`` trains the
query encoder only, against the passage embeddings the index stage already computed (:class:`FrozenPassages`), so
no passage passes through the encoder in training and the corpus never needs re-indexing (index-preserving
query-side adaptation). Weight-space ensembling (WiSE-FT, Wortsman et al., 2022, "Robust fine-tuning of zero-shot
models") mixes the fine-tuned weights with the zero-shot ones at the end: ``(1 - alpha) * zero_shot + alpha *
tuned`` (:func:`interpolate`; ``alpha`` 1 keeps the fine-tuned weights).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from listdistill.distributed import SINGLE, World
from listdistill.encoder import Encoder
from listdistill.gradcache import cached_step, embed_without_graph
from listdistill.io import FormatError, iter_jsonl, write_json
from listdistill.losses import LOSSES, LossConfig, Scores, get_loss, match_entropy, mean_entropy, negative_mask

SCORED_KEYS = ("query_id", "text", "source_doc_id", "candidates")
TOWERS = ("both", "query")


@dataclass(frozen=True)
class Example:
    """One training query and its list (the positive included)."""

    query_id: str
    text: str
    query_type: str
    doc_ids: tuple[str, ...]  # (<= L,)
    teacher: tuple[float, ...]  # (<= L,) normalised teacher scores
    positive: int  # index of the source passage in doc_ids


@dataclass
class ListStats:
    """What building the lists did, for the training log."""

    queries: int = 0
    skipped_short: int = 0  # fewer than two distinct passages
    positive_moved: int = 0  # source passage listed beyond position L, moved into the list
    positive_added: int = 0  # source passage not among the candidates, added with teacher score 1.0


def build_example(rec: Mapping[str, Any], query_type: str, list_length: int, where: str) -> tuple[Example | None, str]:
    """Cut one scored record to a list of ``list_length`` passages holding the positive.

    Returns the example (None with fewer than two distinct passages) and where the positive came from: ``listed``
    (among the first ``list_length`` candidates), ``moved`` (listed further down; it replaces the last one) or
    ``added`` (not a candidate; it replaces the last one with teacher score 1.0, the top of the normalised range).
    """
    seen: dict[str, float] = {}
    for c in rec["candidates"]:
        try:
            did, score = str(c["doc_id"]), float(c["teacher_score"])
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"{where}: candidate {c!r} needs 'doc_id' and a numeric 'teacher_score'") from e
        if not -1e-6 <= score <= 1 + 1e-6:
            raise FormatError(f"{where}: teacher_score {score} of {did!r} is not normalised to [0, 1]")
        seen.setdefault(did, score)
    source = str(rec["source_doc_id"])
    ids = list(seen)[:list_length]
    how = "listed" if source in ids else "moved" if source in seen else "added"
    if how != "listed":
        ids = ids[: list_length - 1] + [source]
    if len(ids) < 2:
        return None, how
    teacher = tuple(seen.get(d, 1.0) for d in ids)
    return Example(str(rec["query_id"]), str(rec["text"]), query_type, tuple(ids), teacher, ids.index(source)), how


def load_examples(
    scored: Path, query_mix: Sequence[str], split: str, list_length: int, doc_ids: set[str]
) -> tuple[list[Example], ListStats]:
    """Read ``<scored>/<type>/<split>.jsonl`` for each type of the mix, in mix order."""
    if not query_mix:
        raise ValueError("query_mix is empty: name at least one query type")
    available = sorted(p.name for p in scored.iterdir() if p.is_dir()) if scored.is_dir() else []
    examples: list[Example] = []
    stats = ListStats()
    for qtype in query_mix:
        path = scored / qtype / f"{split}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no scored {split} lists for query type {qtype!r}; found types {available}"
            )
        for n, rec in enumerate(iter_jsonl(path, SCORED_KEYS), start=1):
            where = f"{path}: record {n}"
            ex, how = build_example(rec, str(rec.get("query_type") or qtype), list_length, where)
            stats.queries += 1
            stats.positive_moved += how == "moved"
            stats.positive_added += how == "added"
            if ex is None:
                stats.skipped_short += 1
                continue
            unknown = [d for d in ex.doc_ids if d not in doc_ids]
            if unknown:
                raise FormatError(f"{where}: doc id(s) {unknown[:3]} are not in the corpus")
            examples.append(ex)
    return examples, stats


def cap(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """A seeded sample of at most ``limit`` examples (0: all), kept in their original order."""
    if limit <= 0 or len(examples) <= limit:
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


@dataclass
class Batch:
    """A batch of ``B`` lists padded to ``L``, passages deduplicated for encoding."""

    queries: list[str]  # (B,)
    passages: list[str]  # (U,) distinct passage texts
    passage_ids: list[str]  # (U,) their doc ids
    index: torch.Tensor  # (B * L,) long: column -> row of the passage embeddings
    doc_ids: torch.Tensor  # (B, L) long: equal ids = same passage; padding has unique negative ids
    teacher: torch.Tensor  # (B, L)
    valid: torch.Tensor  # (B, L) bool
    positive: torch.Tensor  # (B,) long
    query_type: str | None = None  # the batch's query type when all its queries share one


def make_batch(examples: Sequence[Example], texts: Mapping[str, str]) -> Batch:
    length = max(len(e.doc_ids) for e in examples)
    b = len(examples)
    rows: dict[str, int] = {}
    doc_ids = torch.arange(-1, -b * length - 1, -1).reshape(b, length)  # (B, L) padding ids, all distinct
    teacher = torch.zeros(b, length)
    valid = torch.zeros(b, length, dtype=torch.bool)
    for i, ex in enumerate(examples):
        for j, did in enumerate(ex.doc_ids):
            doc_ids[i, j] = rows.setdefault(did, len(rows))
            teacher[i, j] = ex.teacher[j]
            valid[i, j] = True
    return Batch(
        queries=[e.text for e in examples],
        passages=[texts[d] for d in rows],
        passage_ids=list(rows),
        index=doc_ids.clamp(min=0).reshape(-1),
        doc_ids=doc_ids,
        teacher=teacher,
        valid=valid,
        positive=torch.tensor([e.positive for e in examples]),
        query_type=examples[0].query_type if len({e.query_type for e in examples}) == 1 else None,
    )


def dev_batches(examples: Sequence[Example], batch_size: int, texts: Mapping[str, str]) -> list[Batch]:
    """Dev batches that never mix query types (types in order of first appearance), so that the dev loss can be
    broken down by type; in-batch negatives then come from queries of the same type."""
    by_type: dict[str, list[Example]] = {}
    for ex in examples:
        by_type.setdefault(ex.query_type, []).append(ex)
    return [make_batch(g[i : i + batch_size], texts) for g in by_type.values() for i in range(0, len(g), batch_size)]


def batch_scores(q: torch.Tensor, p: torch.Tensor, batch: Batch, threshold: float) -> Scores:
    """Scores of queries (B, d) against the batch's passages (U, d) laid out list by list."""
    dev = q.device
    student = q @ p[batch.index.to(dev)].T  # (B, B * L)
    negatives = negative_mask(batch.doc_ids, batch.teacher, batch.valid, batch.positive, threshold)  # (B, B * L)
    return Scores(student, batch.teacher.to(dev), batch.valid.to(dev), batch.positive.to(dev), negatives.to(dev))


@dataclass(frozen=True)
class FrozenPassages:
    """Passage embeddings computed once by the index stage, for query-tower training."""

    emb: torch.Tensor  # (N, d)
    rows: Mapping[str, int]  # doc_id -> row of emb

    @classmethod
    def load(cls, emb_path: Path, doc_ids: Sequence[str]) -> FrozenPassages:
        import numpy as np

        emb = torch.from_numpy(np.load(emb_path).astype(np.float32))  # (N, d)
        if len(emb) != len(doc_ids):
            raise FormatError(f"{emb_path}: {len(emb)} embeddings for {len(doc_ids)} doc ids")
        return cls(emb, {d: i for i, d in enumerate(doc_ids)})

    def lookup(self, doc_ids: Sequence[str]) -> torch.Tensor:
        return self.emb[[self.rows[d] for d in doc_ids]]  # (U, d)


def interpolate(
    zero_shot: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT: ``(1 - alpha) * zero_shot + alpha * tuned`` for every floating tensor (others are taken from
    ``tuned``); ``alpha`` 1 returns the tuned weights, 0 the zero-shot ones."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the interpolation weight alpha must be in [0, 1], got {alpha}")
    out = {}
    for name, t in tuned.items():
        z = zero_shot[name]
        out[name] = (1.0 - alpha) * z.to(t.dtype) + alpha * t if t.is_floating_point() else t
    return out


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation; the data (query mix, list length, caps) is chosen before, by :func:`load_examples`."""

    loss: str = "listwise+infonce"
    seed: int = 42
    epochs: int = 2
    batch_size: int = 16  # queries per optimizer step
    lr: float = 2.0e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    chunk_size: int = 32  # texts per forward pass with a graph (gradient caching)
    patience: int = 1  # epochs without a better dev loss before stopping; 0 disables early stopping
    bf16: bool = False
    gradient_checkpointing: bool = False
    max_steps: int = 0  # stop after this many optimizer steps (0: run every epoch); for smoke runs
    tower: str = "both"  # both | query (the query encoder only, against frozen passage embeddings)
    wise_alpha: float = 1.0  # WiSE-FT weight of the fine-tuned weights (1: no interpolation)
    checkpoint_every: int = 10  # optimizer steps between resumable checkpoints (and after each epoch)
    losses: LossConfig = field(default_factory=LossConfig)


@dataclass
class TrainState:
    """Everything a resumed run needs besides the weights and optimizer: saved as ``state.json``."""

    fingerprint: str
    epoch: int = 0  # current epoch
    batch: int = 0  # next batch within the epoch
    step: int = 0  # optimizer steps done
    seconds: float = 0.0
    best_epoch: int = 0  # 0: no trained epoch evaluated yet
    best_dev_loss: float | None = None
    bad_epochs: int = 0
    finished: bool = False
    stopped_early: bool = False
    resumed_at_step: int | None = None
    curve: list[dict[str, float]] = field(default_factory=list)  # per step: step, epoch, loss, lr, grad_norm
    dev: list[dict[str, float]] = field(default_factory=list)  # per epoch: epoch, step, dev_loss, dev_<name>


def fingerprint(cfg: TrainConfig, encoder: Encoder, train: Sequence[Example], dev: Sequence[Example]) -> str:
    """Identifies a run: a checkpoint is resumed only by a run with the same config, model and data."""
    h = hashlib.sha256()
    h.update(json.dumps({"train": asdict(cfg), "encoder": asdict(encoder.config)}, sort_keys=True).encode())
    for ex in [*train, None, *dev]:
        h.update(json.dumps(None if ex is None else asdict(ex)).encode())
    return h.hexdigest()[:16]


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 over ``warmup`` steps, then linear decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases or LayerNorm)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


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
            rng = {"cpu": torch.get_rng_state()}
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


def enable_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass (transformers >= 5 calls it activation checkpointing)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def make_loss(
    cfg: TrainConfig, batch: Batch, name: str | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The configured loss as a function of the batch's query (B, d) and passage (U, d) embeddings."""
    fn = get_loss(name or cfg.loss)
    return lambda q, p: fn(batch_scores(q, p, batch, cfg.losses.false_negative_threshold), cfg.losses)


@torch.no_grad()
def calibrate_teacher_temperature(
    encoder: Encoder,
    examples: Sequence[Example],
    texts: Mapping[str, str],
    cfg: TrainConfig,
    frozen: FrozenPassages | None = None,
    sample: int = 256,
) -> float:
    """``teacher_temperature: auto``: the teacher temperature whose softmax over each training list is as sharp
    (mean normalised entropy) as the zero-shot student's softmax at ``student_temperature`` over the same lists
    (:func:`listdistill.losses.match_entropy`), on a seeded sample of ``sample`` training lists. Training queries
    only: no dev or test query is read."""
    encoder.model.eval()
    batch = make_batch(cap(list(examples), sample, cfg.seed), texts)
    q, _ = embed_without_graph(encoder, batch.queries, True, cfg.chunk_size, cfg.bf16)  # (B, d)
    if frozen is not None:
        p = frozen.lookup(batch.passage_ids).to(q.device)  # (U, d)
    else:
        p, _ = embed_without_graph(encoder, batch.passages, False, cfg.chunk_size, cfg.bf16)  # (U, d)
    scores = batch_scores(q, p, batch, cfg.losses.false_negative_threshold)
    valid = scores.valid
    target = mean_entropy(scores.own_list() / cfg.losses.student_temperature, valid)  # (B, L) -> scalar
    return match_entropy(scores.teacher, valid, target)


@torch.no_grad()
def dev_losses(
    encoder: Encoder,
    batches: Sequence[Batch],
    cfg: TrainConfig,
    world: World = SINGLE,
    frozen: FrozenPassages | None = None,
) -> dict[str, float]:
    """Every registered loss on the dev batches (model in eval mode), averaged over queries, and each loss by query
    type as ``<loss>@<type>`` for batches of one type (see :func:`dev_batches`). The texts are shared out between
    the processes of ``world`` and the embeddings gathered, so every process gets the same numbers."""
    encoder.model.eval()
    totals = dict.fromkeys(LOSSES, 0.0)
    counts: dict[str, int] = {}
    n = 0
    for batch in tqdm(batches, desc="dev loss", unit="batch", leave=False, disable=not world.is_main):
        qs, ps = world.part(len(batch.queries)), world.part(len(batch.passages))
        q, _ = embed_without_graph(encoder, batch.queries[qs], True, cfg.chunk_size, cfg.bf16)  # (B_r, d)
        q = world.gather_rows(q, len(batch.queries))  # (B, d)
        if frozen is not None:
            p = frozen.lookup(batch.passage_ids).to(q.device)  # (U, d)
        else:
            p, _ = embed_without_graph(encoder, batch.passages[ps], False, cfg.chunk_size, cfg.bf16)  # (U_r, d)
            p = world.gather_rows(p, len(batch.passages))  # (U, d)
        scores = batch_scores(q, p, batch, cfg.losses.false_negative_threshold)
        for name, fn in LOSSES.items():
            value = float(fn(scores, cfg.losses)) * len(batch.queries)
            totals[name] += value
            if batch.query_type is not None:
                key = f"{name}@{batch.query_type}"
                totals[key] = totals.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + len(batch.queries)
        n += len(batch.queries)
    return {name: round(total / max(counts.get(name, n), 1), 6) for name, total in totals.items()}


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
    if not train_examples:
        raise ValueError("no training examples: check the scored lists and the query_mix")
    get_loss(cfg.loss)  # fail early on an unknown name
    if cfg.tower not in TOWERS:
        raise ValueError(f"tower must be one of {TOWERS}, got {cfg.tower!r}")
    if (cfg.tower == "query") != (frozen is not None):
        raise ValueError("tower 'query' trains against frozen passage embeddings: pass them (and only then)")
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
        model.load_state_dict(blobs["model"])
        optimizer.load_state_dict(blobs["optim"]["optimizer"])
        scheduler.load_state_dict(blobs["optim"]["scheduler"])
        torch.set_rng_state(blobs["rng"]["cpu"])
        if "cuda" in blobs["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(blobs["rng"]["cuda"])
        state.resumed_at_step = state.step
    elif dev:
        state.dev.append({"epoch": 0, "step": 0, **_dev_row(dev_losses(encoder, dev, cfg, world, frozen), cfg.loss)})

    start = time.monotonic() - state.seconds
    bar = tqdm(total=total, initial=state.step, desc=f"train ({cfg.loss})", unit="step", disable=not world.is_main)
    while not state.finished:
        batches = epoch_batches(len(train_examples), cfg.batch_size, cfg.seed, state.epoch)
        while state.batch < len(batches) and state.step < total:
            model.train()
            batch = make_batch([train_examples[i] for i in batches[state.batch]], texts)
            loss_fn = make_loss(cfg, batch)
            fixed = frozen.lookup(batch.passage_ids) if frozen is not None else None  # (U, d)
            loss = cached_step(encoder, batch.queries, batch.passages, loss_fn, cfg.chunk_size, cfg.bf16, world, fixed)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            if not (math.isfinite(loss) and math.isfinite(float(norm))):
                raise FloatingPointError(
                    f"training diverged at step {state.step + 1}: loss {loss}, gradient norm {float(norm)} "
                    "(check the temperatures and the learning rate); nothing was saved"
                )
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batch += 1
            state.curve.append(
                {
                    "step": state.step,
                    "epoch": state.epoch + 1,
                    "loss": round(loss, 6),
                    "lr": float(f"{lr:.6g}"),
                    "grad_norm": round(float(norm), 6),
                }
            )
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", epoch=state.epoch + 1)
            if on_step is not None:
                on_step(state)
            if state.step % cfg.checkpoint_every == 0:
                state.seconds = time.monotonic() - start
                ckpt.save_last(state, model, optimizer, scheduler)
        _end_epoch(state, encoder, dev, cfg, ckpt, total, len(batches), world, frozen)
        state.seconds = time.monotonic() - start
        ckpt.save_last(state, model, optimizer, scheduler)
    bar.close()
    best = ckpt.load_best()
    if best is not None:
        model.load_state_dict(best)
    if zero_shot:
        model.load_state_dict(interpolate(zero_shot, model.state_dict(), cfg.wise_alpha))
    model.eval()
    return state


def _dev_row(losses: dict[str, float], name: str) -> dict[str, float]:
    """The configured loss as ``dev_loss``, every loss as ``dev_<loss>``, the configured loss by type as
    ``dev_loss@<type>``."""
    by_type = {f"dev_loss@{k.split('@', 1)[1]}": v for k, v in losses.items() if k.startswith(f"{name}@")}
    return {"dev_loss": losses[name], **{f"dev_{k}": v for k, v in losses.items() if "@" not in k}, **by_type}


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
    """Close an epoch (or a run cut short by max_steps): dev loss, best weights, early stopping."""
    epoch_done = state.batch >= n
    state.epoch += 1
    state.batch = 0
    if dev:
        row = _dev_row(dev_losses(encoder, dev, cfg, world, frozen), cfg.loss)
        state.dev.append({"epoch": state.epoch, "step": state.step, **row})
        if state.best_dev_loss is None or row["dev_loss"] < state.best_dev_loss:
            state.best_dev_loss, state.best_epoch, state.bad_epochs = row["dev_loss"], state.epoch, 0
            ckpt.save_best(encoder.model)
        else:
            state.bad_epochs += 1
            state.stopped_early = cfg.patience > 0 and state.bad_epochs >= cfg.patience
    else:
        state.best_epoch = state.epoch
    state.finished = state.stopped_early or state.step >= total or (epoch_done and state.epoch >= cfg.epochs)


def sentence_transformers_files(encoder: Encoder) -> dict[str, Any]:
    """The sentence-transformers configuration of the student (the classic layout, which every version since 2.x
    reads): Transformer -> Pooling (the encoder's pooling) -> Normalize when the encoder normalises."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if encoder.config.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    pooling = {
        "word_embedding_dimension": encoder.dim,
        "pooling_mode_cls_token": encoder.pooling == "cls",
        "pooling_mode_mean_tokens": encoder.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    st_config = {
        "prompts": {"query": encoder.config.query_prefix, "document": encoder.config.passage_prefix},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine" if encoder.config.normalize else "dot",
    }
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentence_bert_config.json": {"max_seq_length": encoder.config.passage_max_length, "do_lower_case": False},
        "config_sentence_transformers.json": st_config,
    }


def save_student(encoder: Encoder, out: Path, training: Mapping[str, Any], passage_model: str | None = None) -> None:
    """Write the student atomically; ``training`` goes to training.json.

    One tower (``passage_model`` None): an ordinary Hugging Face model folder that ``SentenceTransformer(out)`` and
    ``Encoder(EncoderConfig(model=out))`` load with the same pooling. Two towers (query-tower training;
    ``passage_model`` the folder of the untouched passage encoder): a sentence-transformers ``Router`` whose
    ``encode_query`` runs the fine-tuned encoder and ``encode_document`` the passage encoder; :class:`Encoder`
    loads it the same way (see :func:`listdistill.encoder.router_towers`)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if passage_model is None:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        for name, obj in sentence_transformers_files(encoder).items():
            write_json(tmp / name, obj)
        if encoder.config.normalize:
            (tmp / "2_Normalize").mkdir()
    else:
        _save_router(encoder, passage_model, tmp)
    write_json(tmp / "training.json", training)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)


def _save_router(encoder: Encoder, passage_model: str, folder: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer

    query_dir = folder.with_name(folder.name + ".query")
    shutil.rmtree(query_dir, ignore_errors=True)
    encoder.model.save_pretrained(query_dir)
    encoder.tokenizer.save_pretrained(query_dir)
    cfg = encoder.config

    def tower(path: str, max_length: int) -> list[Any]:
        modules: list[Any] = [Transformer(path, max_seq_length=max_length), Pooling(encoder.dim, encoder.pooling)]
        return modules + ([Normalize()] if cfg.normalize else [])

    router = Router.for_query_document(
        tower(str(query_dir), cfg.query_max_length), tower(passage_model, cfg.passage_max_length)
    )
    st = SentenceTransformer(
        modules=[router],
        device="cpu",
        prompts={"query": cfg.query_prefix, "document": cfg.passage_prefix},
        similarity_fn_name="cosine" if cfg.normalize else "dot",
    )
    st.save(str(folder))
    shutil.rmtree(query_dir, ignore_errors=True)
