"""generate: synthetic queries of one type for the sampled passages of the generation pool.

Run once per query type (the DVC stage is a ``foreach`` over ``generate.types``); reads ``seed``, ``device`` and
the ``generate`` section; writes the kept queries, every dropped generation with its reason, a stats JSON (DVC
metric) and a small sample table. ``--shard i/N`` generates one contiguous range of the batches into
``<out>.shards/<i>-of-<N>/``; ``--merge N`` cleans the N parts into the outputs a whole run writes
(docs/sharding.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.generate import generate_part, generate_queries, merge_parts, write_outputs
from listdistill.shard import Shard
from stages.options import params_options, read_params, shard_options, shard_run, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--query-type", required=True, help="A type of the catalog (src/listdistill/generate/types/).")
@click.option("--pool", type=click.Path(path_type=Path), required=True, help="Generation pool JSONL.")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=Path(".cache/generate"))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Kept queries (JSONL).")
@click.option("--dropped", type=click.Path(path_type=Path), default=None, help="Dropped generations (JSONL).")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
@click.option("--sample", type=click.Path(path_type=Path), default=None, help="Sample table (TSV).")
@shard_options
def main(
    params_path: Path,
    overrides: tuple[str, ...],
    query_type: str,
    pool: Path,
    checkpoint_dir: Path,
    out: Path,
    dropped: Path | None,
    stats: Path,
    sample: Path | None,
    shard: Shard,
    merge: int,
) -> None:
    config = read_params(params_path, overrides).to_generate(query_type)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "device"}
    run = shard_run(shard, merge, out, settings, pool)
    if run.is_part:
        folder = run.begin()
        batches = generate_part(config, pool, shard, folder, checkpoint_dir=checkpoint_dir)
        run.finish(folder, batches)
        click.echo(f"generate {query_type}: shard {shard} of {batches} batches written to {folder}")
        return
    if merge:
        result = merge_parts(config, pool, [f for f, _ in run.parts()])
    else:
        result = generate_queries(config, pool, checkpoint_dir=checkpoint_dir)
    optional = [x for x in (sample, dropped) if x is not None]
    with stage_outputs(out, stats, *optional) as (tmp_out, tmp_stats, *tmp_optional):
        tmps = dict(zip(optional, tmp_optional, strict=True))
        write_outputs(result, tmp_out, tmp_stats, sample=tmps.get(sample) if sample else None,
                      dropped=tmps.get(dropped) if dropped else None)  # fmt: skip
    s = result.stats
    click.echo(f"generate {query_type}: {s['kept']}/{s['generated']} kept; dropped {s['dropped']}")


if __name__ == "__main__":
    stage_main(main)
