"""The losses on batches: the configured loss for a training step, every loss on the dev batches, and the teacher
temperature calibrated against the zero-shot student."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from listdistill.distributed import SINGLE, World
from listdistill.encoder import Encoder
from listdistill.gradcache import embed_without_graph
from listdistill.losses import LOSSES, get_loss, match_entropy, mean_entropy
from listdistill.train.config import TrainConfig
from listdistill.train.data import Batch, Example, batch_scores, cap, make_batch
from listdistill.train.towers import FrozenPassages


def make_loss(
    cfg: TrainConfig, batch: Batch, name: str | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The configured loss as a function of the batch's query (B, d) and passage (U, d) embeddings."""
    fn = get_loss(name or cfg.loss)
    return lambda q, p: fn(batch_scores(q, p, batch, cfg.losses.false_negative_threshold), cfg.losses)


def with_teacher_temperature(cfg: TrainConfig, auto: bool, encoder: Encoder, examples: Sequence[Example],
                             texts: Mapping[str, str], frozen: FrozenPassages | None) -> TrainConfig:  # fmt: skip
    """``cfg``, with the teacher temperature calibrated on the training lists when ``auto``
    (:func:`calibrate_teacher_temperature`)."""
    if not auto:
        return cfg
    calibrated = calibrate_teacher_temperature(encoder, examples, texts, cfg, frozen)
    return dataclasses.replace(cfg, losses=dataclasses.replace(cfg.losses, teacher_temperature=calibrated))


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
    out = {name: round(total / max(counts.get(name, n), 1), 6) for name, total in totals.items()}
    if frozen is not None:
        out.update(dev_agreement(encoder, batches, cfg, frozen))
    return out


@torch.no_grad()
def dev_agreement(
    encoder: Encoder, batches: Sequence[Batch], cfg: TrainConfig, frozen: FrozenPassages, k: int = 10
) -> dict[str, float]:
    """How the student ranks the whole corpus for the dev queries (query tower: the passage embeddings are the
    frozen ones, so only the queries are encoded): ``teacher_ndcg@10``, nDCG@10 against the teacher's normalised
    scores of the query's list as graded gains (passages outside the list: 0), and RR@10 of the
    reciprocal rank of the passage the query was written from (keys ``teacher_ndcg10``, ``source_rr10``).
    Synthetic queries and teacher labels only."""
    ndcg, rr, n = 0.0, 0.0, 0
    for batch in batches:
        q, _ = embed_without_graph(encoder, batch.queries, True, cfg.chunk_size, cfg.bf16)  # (B, d)
        top = (q @ frozen.emb.to(q.device).T).topk(min(k, len(frozen.emb)), dim=1).indices.cpu()  # (B, k)
        length = batch.teacher.shape[1]
        for i in range(len(batch.queries)):
            cols = batch.index[i * length : (i + 1) * length]  # (L,)
            listed = zip(cols.tolist(), batch.teacher[i].tolist(), batch.valid[i].tolist(), strict=True)
            gains = {frozen.rows[batch.passage_ids[c]]: float(t) for c, t, v in listed if v}
            source = frozen.rows[batch.passage_ids[int(cols[int(batch.positive[i])])]]
            ranked = top[i].tolist()
            dcg = sum(gains.get(r, 0.0) / math.log2(j + 2) for j, r in enumerate(ranked))
            ideal = sum(g / math.log2(j + 2) for j, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
            ndcg += dcg / ideal if ideal > 0 else 0.0
            rr += 1.0 / (ranked.index(source) + 1) if source in ranked else 0.0
            n += 1
    return {"teacher_ndcg10": round(ndcg / max(n, 1), 6), "source_rr10": round(rr / max(n, 1), 6)}
