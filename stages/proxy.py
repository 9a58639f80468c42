"""proxy: the label-free test set (:mod:`listdistill.evaluate.proxy`): queries the generator writes for the held-out
passages, mined like training queries, and judged by the teacher. With judgments (no held-out passages) it writes
empty files.

Reads ``seed``, ``device``, the generator's ``generate.*`` keys, ``student``, ``bm25``, ``mine``, ``teacher``,
``score.depth``, ``score.norm_low``, ``score.norm_high`` and ``proxy``."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.evaluate.proxy_set import build_proxy, no_proxy, write_proxy
from listdistill.index.runs import IndexPaths
from listdistill.records import read_docs
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=Path(".cache/proxy"))
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/embeddings"),
              help="Corpus embeddings of extra dense:<model-ref> retrievers.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder of the test set.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, checkpoint_dir: Path,
         cache_dir: Path, out: Path, stats: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    heldout, index, m = prepared / "heldout.jsonl", IndexPaths(index_dir), p.mine
    proxy = no_proxy()
    if read_docs(heldout):
        proxy = build_proxy(prepared, heldout, index_dir, checkpoint_dir, cache_dir,
                            generate=[(t, p.to_generate(t)) for t in p.proxy.types], retrievers=m.retrievers,
                            faiss_index=m.faiss_index, encoder=p.to_encoder(), k1=p.bm25.k1, b=p.bm25.b,
                            mine=p.to_mine(), teacher=p.to_teacher(), proxy=p.to_proxy(),
                            resources=functools.partial(p.to_resources, index.lucene, index.embeddings))  # fmt: skip
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        write_proxy(tmp, tmp_stats, proxy)
    click.echo(f"proxy: {proxy.stats['queries']} label-free test queries")


if __name__ == "__main__":
    stage_main(main)
