"""mine: candidate lists for one query type's generated queries (retrieve with several retrievers, fuse with
RRF, keep queries that retrieve their own source passage, drop test-relevant and duplicate passages).

Reads ``device``, ``student``, ``bm25`` and ``mine``. ``--shard i/N`` mines one contiguous range of the units of
``--queries-per-unit`` queries into ``<out>.shards/<i>-of-<N>/``; ``--merge N`` joins the N parts into the outputs
a whole run writes (docs/sharding.md)."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import stage_settings
from listdistill.errors import friendly
from listdistill.io import write_json
from listdistill.mine.candidates import MineResult, merge_parts, mine_units, parse_retrievers, summary, write_part
from listdistill.mine.inputs import read_inputs
from listdistill.records import write_candidates, write_run
from listdistill.shard import Shard, units
from stages.options import params_options, queries_per_unit_option, read_params, shard_options, shard_run, stage_main

PART = "mined.jsonl"


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--queries", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="Generated queries (JSONL, docs/formats.md).")  # fmt: skip
@click.option("--prepared", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="prepare's folder (corpus.jsonl, qrels.txt, duplicates.jsonl).")  # fmt: skip
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/embeddings"),
              help="Corpus embeddings of extra dense:<model-ref> retrievers.")  # fmt: skip
@queries_per_unit_option("Queries retrieved together")
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for run.trec, candidates.jsonl.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], queries: Path, prepared: Path, index_dir: Path, cache_dir: Path,
         queries_per_unit: int, shard: Shard, merge: int, out: Path, stats: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    config, m = p.to_mine(), p.mine
    inputs = read_inputs(queries, prepared, index_dir, m.faiss_index)
    generated, names = inputs.queries, ["fused", *parse_retrievers(m.retrievers)]
    settings = {**stage_settings(p, "mine"), "queries_per_unit": queries_per_unit, "excluded": sorted(inputs.excluded)}
    run = shard_run(shard, merge, out, settings, queries, index_dir / "corpus_emb.json")

    def compute(own: list[range]) -> MineResult:
        models = inputs.retrievers(m.retrievers, p.to_encoder(), p.bm25.k1, p.bm25.b, m.faiss_index, cache_dir)
        return mine_units(models, generated, config, inputs.excluded, len(inputs.docs), own)

    result = run.over_units(
        units(len(generated), queries_per_unit), PART, compute,
        merge=lambda parts: merge_parts(parts, generated, names, config),
        save=lambda path, own, part: write_part(path, [q for u in own for q in generated[u.start : u.stop]], part),
    )  # fmt: skip
    if result is None:
        return
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_run(tmp / "run.trec", result.run, tag="mine_rrf")
        write_candidates(tmp / "candidates.jsonl", result.candidates)
        write_json(tmp_stats, {**result.stats, "excluded_passages": len(inputs.excluded), "retrievers": m.retrievers})
    click.echo(f"mine {queries.name}: {summary(result.stats)}")


if __name__ == "__main__":
    stage_main(main)
