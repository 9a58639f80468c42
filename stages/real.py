"""real: the real-query arm's training lists, from the share of the collection's queries that ``prepare`` moved to
training (``prepare.real_query_fraction``), labelled by the teacher or, as the upper bound, by their qrels
(:mod:`listdistill.score.real`). Writes ``<out>/{train,dev}.jsonl`` in the ``score`` stage's format, so ``query_mix:
[real]`` trains on them; with no real training queries it writes empty files and loads nothing."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.index.runs import IndexPaths
from listdistill.io import write_json
from listdistill.records import read_queries, write_scored
from listdistill.score.real import real_lists
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--stats", type=click.Path(path_type=Path), required=True)
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, out: Path,
         stats: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    queries, index, labels = read_queries(prepared / "real_queries.jsonl"), IndexPaths(index_dir), p.real.labels
    resources = functools.partial(p.to_resources, index.lucene, index.embeddings)
    train, dev = real_lists(prepared, index, queries, p.to_real(), encoder=p.to_encoder(), k=p.mine.k,
                            k1=p.bm25.k1, b=p.bm25.b, rrf_k=p.mine.rrf_k, teacher=p.to_teacher(),
                            resources=resources) if queries else ([], [])  # fmt: skip
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_scored(tmp / "train.jsonl", train)
        write_scored(tmp / "dev.jsonl", dev)
        write_json(tmp_stats, {"labels": labels, "queries_in": len(queries), "train": len(train), "dev": len(dev)})
    click.echo(f"real ({labels}): {len(queries)} training queries -> train {len(train)}, dev {len(dev)}")


if __name__ == "__main__":
    stage_main(main)
