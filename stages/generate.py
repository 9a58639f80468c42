"""generate: synthetic queries of every type of ``generate.types`` for the sampled passages of the generation pool.

Reads ``seed``, ``device`` and the ``generate`` section; writes, per type, the kept queries
(``<out>/<type>.jsonl``), every dropped generation with its reason (``<out>/dropped/<type>.jsonl``), a stats JSON
(``<stats>/<type>.json``, DVC metrics) and a small sample table (``<samples>/<type>.tsv``). On a CPU the
model-written types run side by side, ``generate.workers`` processes (src/listdistill/generate/parallel.py).
``--query-type`` runs only the types named. ``--shard i/N`` generates one contiguous range of one type's batches
into ``<out>/<type>.jsonl.shards/<i>-of-<N>/``; ``--merge N`` cleans the N parts into the outputs a whole run
writes (docs/sharding.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.generate import generate_part, merge_parts, write_outputs
from listdistill.generate.parallel import TypeOutputs, generate_types
from listdistill.shard import Shard
from stages.options import params_options, read_params, shard_options, shard_run, stage_main

Dir = click.Path(path_type=Path, file_okay=False)


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--query-type", "query_types", multiple=True, help="Only this type (repeat); default: generate.types.")
@click.option("--pool", type=click.Path(path_type=Path), required=True, help="Generation pool JSONL.")
@click.option("--checkpoint-dir", type=Dir, default=Path(".cache/generate"), help="Finished batches, per type.")
@click.option("--out", type=Dir, required=True, help="Kept queries <out>/<type>.jsonl, dropped <out>/dropped/.")
@click.option("--stats", type=Dir, required=True, help="Stats <stats>/<type>.json (DVC metrics).")
@click.option("--samples", type=Dir, default=None, help="Sample tables <samples>/<type>.tsv.")
@shard_options
def main(
    params_path: Path,
    overrides: tuple[str, ...],
    query_types: tuple[str, ...],
    pool: Path,
    checkpoint_dir: Path,
    out: Path,
    stats: Path,
    samples: Path | None,
    shard: Shard,
    merge: int,
) -> None:
    params = read_params(params_path, overrides)
    outputs = TypeOutputs(out, stats, samples)
    configs = [params.to_generate(t) for t in query_types or params.generate.types]
    if shard.whole and not merge:
        for name, s in generate_types(configs, pool, outputs, checkpoint_dir, params.generate.workers).items():
            click.echo(f"generate {name}: {s['kept']}/{s['generated']} kept; {s['cpu_s']} CPU-s, {s['wall_s']} s")
        return
    if len(configs) != 1:
        raise click.UsageError("--shard and --merge run one type: give --query-type once")
    config = configs[0]
    files = outputs.files(config.query_type)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "device"}
    run = shard_run(shard, merge, files[0], settings, pool)
    if run.is_part:
        folder = run.begin()
        batches = generate_part(config, pool, shard, folder, checkpoint_dir=checkpoint_dir)
        run.finish(folder, batches)
        click.echo(f"generate {config.query_type}: shard {shard} of {batches} batches written to {folder}")
        return
    result = merge_parts(config, pool, [f for f, _ in run.parts()])
    with stage_outputs(*files) as (tmp_out, tmp_stats, tmp_dropped, *tmp_sample):
        write_outputs(result, tmp_out, tmp_stats, sample=tmp_sample[0] if tmp_sample else None, dropped=tmp_dropped)
    click.echo(f"generate {config.query_type}: {result.stats['kept']}/{result.stats['generated']} kept (merged)")


if __name__ == "__main__":
    stage_main(main)
