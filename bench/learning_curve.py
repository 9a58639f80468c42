"""Learning curves, for display: the student's test nDCG@10 against training steps and against the number of
training queries, query-tower training on the scored lists of one experiment folder.

    OMP_NUM_THREADS=1 python bench/learning_curve.py --prepared V/prepared --index V/index --scored V/scored \
        --set 'query_mix=[sentences]' --steps-every 25 --query-counts 100,250,500,1000,0 \
        --out bench/results/learning_curve_vaswani

The training settings are the params' (``--params``, default params.yaml, and ``--set``, as on every stage):
``loss``, ``query_mix``, ``seed``, ``student`` and ``train`` (query tower, on the CPU).

Writes ``<out>_steps.tsv`` (step, nDCG@10, R@100 of one run, evaluated every ``--steps-every`` steps) and
``<out>_queries.tsv`` (training queries, steps, nDCG@10, R@100: one run per count, the same epochs), declared as
DVC plots in dvc.yaml. The test queries are read here only to draw the curves: nothing is stopped, selected or
set from them (training keeps its own dev-loss early stopping, as the train stage does).
"""

from __future__ import annotations

import csv
import dataclasses
import tempfile
from pathlib import Path

import click
import numpy as np
import torch

from listdistill.encoder import Encoder
from listdistill.evaluate.metrics import evaluate
from listdistill.index.runs import IndexPaths, dense_run
from listdistill.io import atomic_open, read_json
from listdistill.records import read_docs, read_qrels, read_queries
from listdistill.train import FrozenPassages, TrainState, cap, load_examples, train
from stages.options import params_options, read_params


def test_scores(encoder: Encoder, index: IndexPaths, emb: np.ndarray, prepared: Path) -> dict[str, float]:
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    with torch.random.fork_rng():
        was_training = encoder.model.training
        encoder.model.eval()
        run = dense_run(encoder, emb, index.doc_ids, queries, 100)
        encoder.model.train(was_training)
    m = evaluate(qrels, run, ("nDCG@10", "R@100"))
    return {k: round(v, 4) for k, v in m.items()}


def write_tsv(path: Path, rows: list[dict[str, object]]) -> None:
    with atomic_open(path) as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


@click.command()
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--scored", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--steps-every", type=int, default=25)
@click.option("--query-counts", default="100,250,500,1000,0", help="Training-query counts (0: all).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Prefix of the two TSV files.")
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, scored: Path,
         steps_every: int, query_counts: str, out: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    seed, list_length = p.seed, p.train.list_length
    index = IndexPaths(index_dir)
    meta = read_json(index_dir / "corpus_emb.json")
    frozen = FrozenPassages.load(index.embeddings, meta["doc_ids"])
    emb = frozen.emb.numpy()  # (N, d): the same array, for searching
    texts = {d.doc_id: d.contents for d in read_docs(prepared / "corpus.jsonl")}
    mix = p.query_mix
    train_all, _ = load_examples(scored, mix, "train", list_length, set(texts))
    dev, _ = load_examples(scored, mix, "dev", list_length, set(texts))
    dev = cap(dev, p.train.max_dev_queries, seed)
    cfg = dataclasses.replace(p.to_train("cpu", checkpoint_every=10), tower="query", bf16=False)
    model = dataclasses.replace(p.to_encoder(), model=meta["model"], device="cpu", dtype="float32")

    steps_rows: list[dict[str, object]] = [{"step": 0, **test_scores(Encoder(model), index, emb, prepared)}]
    encoder = Encoder(model)

    def on_step(state: TrainState) -> None:
        if state.step % steps_every == 0:
            steps_rows.append({"step": state.step, **test_scores(encoder, index, emb, prepared)})
            click.echo(f"step {state.step}: {steps_rows[-1]}")

    with tempfile.TemporaryDirectory() as tmp:
        train(encoder, train_all, dev, texts, cfg, Path(tmp) / "ckpt", on_step=on_step, frozen=frozen)
    write_tsv(out.with_name(out.name + "_steps.tsv"), steps_rows)

    query_rows: list[dict[str, object]] = [{"train_queries": 0, "steps": 0, **steps_rows[0]}]
    query_rows[0].pop("step")
    for n in [int(x) for x in query_counts.split(",")]:
        examples = cap(train_all, n, seed)
        encoder = Encoder(model)
        with tempfile.TemporaryDirectory() as tmp:
            state = train(encoder, examples, dev, texts, cfg, Path(tmp) / "ckpt", frozen=frozen)
        query_rows.append({"train_queries": len(examples), "steps": state.step,
                           **test_scores(encoder, index, emb, prepared)})  # fmt: skip
        click.echo(f"queries {len(examples)}: {query_rows[-1]}")
    write_tsv(out.with_name(out.name + "_queries.tsv"), query_rows)


if __name__ == "__main__":
    main()
