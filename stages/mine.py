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
from listdistill.index.runs import IndexPaths
from listdistill.io import write_json
from listdistill.mine.candidates import (
    build_retrievers,
    excluded_docs,
    merge_parts,
    mine_units,
    parse_retrievers,
    read_duplicates,
    read_generated,
    write_part,
)
from listdistill.records import read_docs, read_qrels, write_candidates, write_run
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
    # every input checked against the corpus before any work (docs/formats.md)
    corpus = prepared / "corpus.jsonl"
    docs = read_docs(corpus)
    known = {d.doc_id for d in docs}
    generated = read_generated(queries, known)
    if not generated:
        raise click.ClickException(f"{queries}: expected generated queries, got an empty file (generate kept none?)")
    qrels = read_qrels(prepared / "qrels.txt", docs=docs)
    duplicates = read_duplicates(prepared / "duplicates.jsonl", known)
    index = IndexPaths(index_dir)
    index.check(docs, corpus, m.faiss_index)
    doc_ids = [d.doc_id for d in docs]
    excluded = excluded_docs(qrels, duplicates)
    names = ["fused", *parse_retrievers(m.retrievers)]
    work = units(len(generated), queries_per_unit)
    settings = {**stage_settings(p, "mine"), "queries_per_unit": queries_per_unit, "excluded": sorted(excluded)}
    run = shard_run(shard, merge, out, settings, queries, index_dir / "corpus_emb.json")
    if merge:
        result = merge_parts([f / PART for f, _ in run.parts()], generated, names, config)
    else:
        models = build_retrievers(
            m.retrievers, index.lucene, index.embeddings, doc_ids, p.to_encoder(), p.bm25.k1, p.bm25.b,
            m.faiss_index, docs, corpus, cache_dir,
        )  # fmt: skip
        own = shard.take(work)
        result = mine_units(models, generated, config, excluded, len(doc_ids), own)
        if run.is_part:
            folder = run.begin()
            write_part(folder / PART, [q for u in own for q in generated[u.start : u.stop]], result)
            run.finish(folder, len(work))
            click.echo(f"mine {queries.name}: shard {shard}: {len(result.ranks['fused'])} queries to {folder}")
            return
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_run(tmp / "run.trec", result.run, tag="mine_rrf")
        write_candidates(tmp / "candidates.jsonl", result.candidates)
        write_json(tmp_stats, {**result.stats, "excluded_passages": len(excluded), "retrievers": m.retrievers})
    click.echo(
        f"mine {queries.name}: {result.stats['kept']}/{result.stats['queries_in']} kept; "
        f"source recall (fused) {result.stats['source_recall_fused']}"
    )


if __name__ == "__main__":
    stage_main(main)
