"""prepare: load a collection, write the normalised corpus (cut into passages with ``dataset.chunk_tokens``),
test queries, qrels, the generation pool and, without judgments, the passages held out for the label-free
evaluation; ``collection.json`` says which evaluation the pipeline runs.

Reads ``seed``, ``dataset``, ``prepare``, ``student.model`` (its tokenizer counts the chunks' tokens) and
``proxy.heldout`` from the params file."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.data.prepare import prepare_collection, summary, write_prepared
from listdistill.errors import friendly
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/datasets"))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], cache_dir: Path, out: Path, stats: Path) -> None:
    p = read_params(params_path, overrides)
    d = p.dataset
    prepared = prepare_collection(p.to_dataset(str(cache_dir)), judgments=d.judgments, chunk_tokens=d.chunk_tokens,
                                  chunk_overlap=d.chunk_overlap, student_model=p.student.model,
                                  heldout=p.proxy.heldout, pool_size=p.prepare.pool_size,
                                  real_query_fraction=p.prepare.real_query_fraction, real_split=p.prepare.real_split,
                                  seed=p.seed)  # fmt: skip
    with stage_outputs(out, stats) as (tmp, tmp_stats):  # the whole set, or nothing, replaces the old one
        write_prepared(tmp, tmp_stats, prepared)
    click.echo(summary(prepared))


if __name__ == "__main__":
    stage_main(main)
