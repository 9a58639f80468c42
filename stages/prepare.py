"""prepare: load a collection, write the normalised corpus, test queries, qrels and the generation pool."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.data import DatasetSpec, load_collection
from listdistill.io import write_json, write_jsonl, write_qrels
from listdistill.pool import build_pool
from listdistill.real import split_queries


@click.command(context_settings={"show_default": True})
@click.option("--dataset", required=True, help="cranfield | vaswani | beir/<name> | a BEIR folder.")
@click.option(
    "--mirror",
    default="../shared/datasets",
    help="Local mirror of raw collections (LISTDISTILL_DATA_MIRROR overrides).",
)
@click.option("--split", default="test", help="Qrels split of a BEIR collection.")
@click.option("--cranfield-relevance", type=click.Choice(["binary", "graded"]), default="binary")
@click.option("--pool-size", type=int, default=0, help="Cap the generation pool to a seeded sample (0: all).")
@click.option(
    "--real-query-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    help="Seeded share of the test queries moved to training (real-query arm); only the rest are tested.",
)
@click.option("--seed", type=int, default=42)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/datasets"))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(
    dataset: str,
    mirror: str,
    split: str,
    cranfield_relevance: str,
    pool_size: int,
    real_query_fraction: float,
    seed: int,
    cache_dir: Path,
    out: Path,
    stats: Path,
) -> None:
    spec = DatasetSpec(dataset, mirror or None, str(cache_dir), split, cranfield_relevance)
    col = load_collection(spec)
    result = build_pool(col.docs, col.qrels, pool_size or None, seed)
    write_jsonl(out / "corpus.jsonl", col.docs)
    real, real_qrels, test, test_qrels = split_queries(col.queries, col.qrels, real_query_fraction, seed)
    write_jsonl(out / "queries.jsonl", test)  # the only queries any system is evaluated on
    write_qrels(out / "qrels.txt", test_qrels)
    write_jsonl(out / "real_queries.jsonl", real)  # training queries of the real-query arm (none by default)
    write_qrels(out / "real_qrels.txt", real_qrels)
    write_jsonl(out / "pool.jsonl", result.pool)
    write_jsonl(out / "duplicates.jsonl", result.duplicates)
    n_judged = sum(1 for per_q in test_qrels.values() for r in per_q.values() if r > 0)
    counts = {"queries": len(test), "real_training_queries": len(real), "qrels_relevant": n_judged}
    write_json(stats, {"dataset": dataset, **counts, **result.stats})
    click.echo(
        f"prepare: {len(col.docs)} docs, {len(test)} test and {len(real)} training queries, pool {len(result.pool)}"
    )


if __name__ == "__main__":
    main()
