"""Time training steps of the real student on scored lists, beside a reference encoding rate.

The machine is shared, so each figure comes with the inference rate measured in the same run (the README's
quiet-machine figure for all-MiniLM-L6-v2 is about 28 passages/s for 100-word passages, batch 32, max length
256); divide a step time by (28 / measured rate) to estimate it on a quiet machine.

    nice -n 10 python bench/train_step_time.py --scored data/mix --corpus data/prepared/corpus.jsonl \
        --set 'query_mix=[questions]' --set train.list_length=8 --steps 3

The student and the training settings are the params' (``--params``, default params.yaml, and ``--set``, as on every
stage): ``query_mix``, ``student`` and ``train`` (batch size, list length, passage length, chunk size), both towers.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click
import torch

from listdistill.encoder import Encoder
from listdistill.gradcache import cached_step
from listdistill.records import read_docs
from listdistill.train import load_examples, make_batch, make_loss, make_optimizer
from stages.options import params_options, read_params


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


@click.command()
@params_options
@click.option("--scored", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--corpus", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--steps", default=3)
@click.option("--reference", default=128, help="Passages to encode for the reference rate (0: skip).")
def main(params_path: Path, overrides: tuple[str, ...], scored: Path, corpus: Path, steps: int, reference: int) -> None:
    p = read_params(params_path, overrides)
    docs = read_docs(corpus)
    texts = {d.doc_id: d.contents for d in docs}
    enc = Encoder(dataclasses.replace(p.to_encoder(), device="cpu", dtype="float32"))
    if reference:
        w0, _ = clock()
        enc.encode_passages([d.contents for d in docs[:reference]])
        rate = reference / (time.perf_counter() - w0)
        click.echo(f"reference: {rate:.1f} passages/s (quiet machine ~28) -> load factor {28 / rate:.2f}")
    if p.train.passage_max_length:
        enc.config = dataclasses.replace(enc.config, passage_max_length=p.train.passage_max_length)
    examples, _ = load_examples(scored, p.query_mix, "train", p.train.list_length, set(texts))
    cfg = dataclasses.replace(p.to_train("cpu", checkpoint_every=10), tower="both", bf16=False)
    opt = make_optimizer(enc.model, cfg)
    enc.model.train()
    for s in range(steps):
        batch = make_batch(examples[s * cfg.batch_size : (s + 1) * cfg.batch_size], texts)
        w0, c0 = clock()
        loss = cached_step(enc, batch.queries, batch.passages, make_loss(cfg, batch), cfg.chunk_size)
        torch.nn.utils.clip_grad_norm_(enc.model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        w1, c1 = clock()
        click.echo(
            f"step {s + 1}: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s cpu, {len(batch.queries)} queries, "
            f"{len(batch.passages)} distinct passages, loss {loss:.4f}"
        )


if __name__ == "__main__":
    main()
