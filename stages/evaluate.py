"""evaluate: BM25, the zero-shot student, their fusion (and the fine-tuned student when given) on the test
queries; TREC runs, per-query measures and metrics/eval.json."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.evaluation import IndexPaths, bm25_run, hybrid_run, score_systems, zero_shot_run
from listdistill.io import read_qrels, read_queries, write_json
from stages.options import encoder_options, make_encoder_config


@click.command(context_settings={"show_default": True})
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@encoder_options
@click.option("--bm25-k1", type=float, default=0.9)
@click.option("--bm25-b", type=float, default=0.4)
@click.option("--faiss-index", default="Flat", help="faiss index factory string.")
@click.option("--depth", type=int, default=100, help="Run depth written and evaluated.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for runs and per-query TSV.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
def main(
    prepared: Path,
    index_dir: Path,
    bm25_k1: float,
    bm25_b: float,
    faiss_index: str,
    depth: int,
    out: Path,
    metrics: Path,
    **enc: object,
) -> None:
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    index = IndexPaths(index_dir)
    runs = {"bm25": bm25_run(index, queries, depth, bm25_k1, bm25_b)}
    runs["student_zero_shot"] = zero_shot_run(make_encoder_config(enc), index, queries, depth, faiss_index)
    runs["hybrid_rrf"] = hybrid_run([runs["bm25"], runs["student_zero_shot"]], depth)
    means, _ = score_systems(qrels, runs, out, depth=depth)
    write_json(metrics, means)
    for name, m in means.items():
        click.echo(f"{name:20s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))


if __name__ == "__main__":
    main()
