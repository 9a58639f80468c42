"""generate: one synthetic query of one type for each sampled passage of the generation pool.

Run once per query type (the DVC stage is a ``foreach`` over ``generate.types``); writes the kept queries,
every dropped generation with its reason, a stats JSON (DVC metric) and a small sample table. ``--shard i/N``
generates one contiguous range of the batches into ``<out>.shards/<i>-of-<N>/``; ``--merge N`` cleans the N parts
into the outputs a whole run writes (docs/sharding.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.generate import (
    DEFAULT_MODEL,
    GenerateConfig,
    generate_part,
    generate_queries,
    merge_parts,
    write_outputs,
)
from listdistill.generate.backends import BACKENDS
from listdistill.generate.catalog import UnknownQueryTypeError
from listdistill.io import FormatError
from listdistill.shard import Shard, ShardError, begin_part, fingerprint, finish_part, read_manifests
from stages.options import check_shard_options, shard_options

_D = GenerateConfig("questions")


@click.command(context_settings={"show_default": True})
@click.option("--query-type", required=True, help="A type of the catalog (src/listdistill/generate/types/).")
@click.option("--pool", type=click.Path(path_type=Path), required=True, help="Generation pool JSONL.")
@click.option("--model", default=DEFAULT_MODEL, help="Generator: pkg:<module>/<path> | folder | .gguf | hub id.")
@click.option("--backend", type=click.Choice(BACKENDS), default=_D.backend)
@click.option("--device", default=_D.device, help="auto | cpu | cuda | cuda:N")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default=_D.dtype)
@click.option(
    "--tensor-parallel-size", type=int, default=_D.tensor_parallel_size, help="vllm: GPUs per model (0: all)."
)
@click.option("--passages", type=int, default=_D.passages, help="Seeded sample of the pool (0: all).")
@click.option("--num-examples", type=int, default=_D.num_examples, help="Few-shot examples per passage.")
@click.option("--max-new-tokens", type=int, default=_D.max_new_tokens)
@click.option("--temperature", type=float, default=_D.temperature, help="0: greedy.")
@click.option("--top-p", type=float, default=_D.top_p)
@click.option("--passage-max-tokens", type=int, default=_D.passage_max_tokens, help="Passage truncation (0: none).")
@click.option("--batch-size", type=int, default=_D.batch_size)
@click.option("--max-copy-run", type=int, default=_D.max_copy_run, help="Drop outputs copying this many words.")
@click.option("--seed", type=int, default=_D.seed)
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=Path(".cache/generate"))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Kept queries (JSONL).")
@click.option("--dropped", type=click.Path(path_type=Path), default=None, help="Dropped generations (JSONL).")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
@click.option("--sample", type=click.Path(path_type=Path), default=None, help="Sample table (TSV).")
@shard_options
def main(
    query_type: str,
    pool: Path,
    checkpoint_dir: Path,
    out: Path,
    dropped: Path | None,
    stats: Path,
    sample: Path | None,
    shard: Shard,
    merge: int,
    **params: object,
) -> None:
    check_shard_options(shard, merge)
    config = GenerateConfig(query_type=query_type, **params)  # type: ignore[arg-type]
    try:
        key = fingerprint(vars(config), pool) if merge or not shard.whole else ""
        if not shard.whole:
            folder = begin_part(out, shard)
            batches = generate_part(config, pool, shard, folder, checkpoint_dir=checkpoint_dir)
            finish_part(folder, shard, key, batches)
            click.echo(f"generate {query_type}: shard {shard} of {batches} batches written to {folder}")
            return
        if merge:
            result = merge_parts(config, pool, [f for f, _ in read_manifests(out, merge, key)])
        else:
            result = generate_queries(config, pool, checkpoint_dir=checkpoint_dir)
    except (UnknownQueryTypeError, FormatError, FileNotFoundError, ShardError) as e:
        raise click.ClickException(str(e)) from e
    write_outputs(result, out, stats, sample=sample, dropped=dropped)
    s = result.stats
    click.echo(f"generate {query_type}: {s['kept']}/{s['generated']} kept; dropped {s['dropped']}")


if __name__ == "__main__":
    main()
