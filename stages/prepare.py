"""prepare: load a collection, write the normalised corpus, test queries, qrels and the generation pool.

Reads ``seed``, ``dataset`` and ``prepare`` from the params file."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.data import DatasetSpec, load_collection
from listdistill.errors import friendly, run
from listdistill.io import write_json, write_jsonl, write_qrels
from listdistill.pool import build_pool
from listdistill.records import check_relevant, relevant_counts
from listdistill.split import split_queries
from stages.options import params_options, read_params


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/datasets"))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], cache_dir: Path, out: Path, stats: Path) -> None:
    p = read_params(params_path, overrides)
    prepare(p, cache_dir, out, stats)


def prepare(p: Params, cache_dir: Path, out: Path, stats: Path) -> None:
    d = p.dataset
    spec = DatasetSpec(d.name, d.mirror or None, str(cache_dir), d.split, d.cranfield_relevance,
                       d.drop_empty_queries, d.drop_unknown_judged_docs)  # fmt: skip
    col = load_collection(spec)
    result = build_pool(col.docs, col.qrels, p.prepare.pool_size or None, p.seed)
    real, real_qrels, test, test_qrels = split_queries(col.queries, col.qrels, p.prepare.real_query_fraction, p.seed)
    if real:  # the collection has relevant judgments (checked); the split may have moved them all to training
        check_relevant(test_qrels, f"{d.name}: the test queries left by prepare.real_query_fraction")
    relevant = relevant_counts(test_qrels, [q.query_id for q in test])  # per test query, 0 when none is relevant
    counts = {"queries": len(test), "real_training_queries": len(real), "qrels_relevant": sum(relevant.values()),
              "relevant_per_query": relevant}  # fmt: skip
    with stage_outputs(out, stats) as (tmp, tmp_stats):  # the whole set, or nothing, replaces the old one
        tmp.mkdir()
        write_jsonl(tmp / "corpus.jsonl", col.docs)
        write_jsonl(tmp / "queries.jsonl", test)  # the only queries any system is evaluated on
        write_qrels(tmp / "qrels.txt", test_qrels)
        write_jsonl(tmp / "real_queries.jsonl", real)  # training queries of the real-query arm (none by default)
        write_qrels(tmp / "real_qrels.txt", real_qrels)
        write_jsonl(tmp / "pool.jsonl", result.pool)
        write_jsonl(tmp / "duplicates.jsonl", result.duplicates)
        write_json(tmp_stats, {"dataset": d.name, **counts, **result.stats, **col.notes})
    click.echo(
        f"prepare: {len(col.docs)} docs, {len(test)} test and {len(real)} training queries, pool {len(result.pool)}"
    )


if __name__ == "__main__":
    run(main)
