"""Time training steps of the real student on scored lists, beside a reference encoding rate.

The machine is shared, so each figure comes with the inference rate measured in the same run (the README's
quiet-machine figure for all-MiniLM-L6-v2 is about 28 passages/s for 100-word passages, batch 32, max length
256); divide a step time by (28 / measured rate) to estimate it on a quiet machine.

    nice -n 10 python bench/train_step_time.py --scored data/scored --corpus data/prepared/corpus.jsonl \
        --query-mix questions --batch-size 16 --list-length 8 --passage-max-length 128 --steps 3
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click
import torch

from listdistill.encoder import Encoder, EncoderConfig
from listdistill.gradcache import cached_step
from listdistill.io import read_docs
from listdistill.train import TrainConfig, load_examples, make_batch, make_loss, make_optimizer


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


@click.command()
@click.option("--scored", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--corpus", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--query-mix", multiple=True, required=True)
@click.option("--model", default=EncoderConfig.model)
@click.option("--batch-size", default=16)
@click.option("--list-length", default=8)
@click.option("--passage-max-length", default=128)
@click.option("--chunk-size", default=32)
@click.option("--steps", default=3)
@click.option("--reference", default=128, help="Passages to encode for the reference rate (0: skip).")
def main(**kw: object) -> None:
    docs = read_docs(kw["corpus"])  # type: ignore[arg-type]
    texts = {d.doc_id: d.contents for d in docs}
    enc = Encoder(EncoderConfig(model=str(kw["model"])))
    if kw["reference"]:
        w0, _ = clock()
        enc.encode_passages([d.contents for d in docs[: int(kw["reference"])]])  # type: ignore[call-overload]
        rate = int(kw["reference"]) / (time.perf_counter() - w0)  # type: ignore[call-overload]
        click.echo(f"reference: {rate:.1f} passages/s (quiet machine ~28) -> load factor {28 / rate:.2f}")
    enc.config = dataclasses.replace(enc.config, passage_max_length=int(kw["passage_max_length"]))  # type: ignore[call-overload]
    examples, _ = load_examples(kw["scored"], list(kw["query_mix"]), "train", int(kw["list_length"]), set(texts))  # type: ignore[arg-type, call-overload]
    cfg = TrainConfig(batch_size=int(kw["batch_size"]), chunk_size=int(kw["chunk_size"]))  # type: ignore[call-overload]
    opt = make_optimizer(enc.model, cfg)
    enc.model.train()
    for s in range(int(kw["steps"])):  # type: ignore[call-overload]
        batch = make_batch(examples[s * cfg.batch_size : (s + 1) * cfg.batch_size], texts)
        w0, c0 = clock()
        loss = cached_step(enc, batch.queries, batch.passages, make_loss(cfg, batch), cfg.chunk_size)
        torch.nn.utils.clip_grad_norm_(enc.model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        w1, c1 = clock()
        click.echo(
            f"step {s + 1}: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s cpu, {len(batch.queries)} queries, "
            f"{len(batch.passages)} distinct passages, loss {loss:.4f}"
        )


if __name__ == "__main__":
    main()
