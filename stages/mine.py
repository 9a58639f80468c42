"""mine: candidate lists for one query type's generated queries (retrieve with several retrievers, fuse with
RRF, keep queries that retrieve their own source passage, drop test-relevant and duplicate passages).

``--shard i/N`` mines one contiguous range of the units of ``--queries-per-unit`` queries into
``<out>.shards/<i>-of-<N>/``; ``--merge N`` joins the N parts into the outputs a whole run writes
(docs/sharding.md)."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.evaluation import IndexPaths
from listdistill.io import FormatError, read_docs, read_qrels, write_json, write_jsonl, write_run
from listdistill.mine import (
    MineConfig,
    build_retrievers,
    excluded_docs,
    merge_parts,
    mine_units,
    parse_retrievers,
    read_duplicates,
    read_generated,
    write_part,
)
from listdistill.shard import Shard, ShardError, begin_part, fingerprint, finish_part, read_manifests, units
from stages.options import (
    bm25_options,
    check_shard_options,
    encoder_options,
    make_encoder_config,
    queries_per_unit_option,
    shard_options,
)

PART = "mined.jsonl"


@click.command(context_settings={"show_default": True})
@click.option(
    "--queries",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Generated queries (JSONL: query_id, text, query_type, source_doc_id).",
)
@click.option(
    "--prepared",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="prepare's folder (corpus.jsonl, qrels.txt, duplicates.jsonl).",
)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--retrievers", default="bm25+dense", help="Retrievers joined by '+': bm25, dense, dense:<model-ref>.")
@click.option("--k", type=int, default=100, help="Candidates kept per query.")
@click.option("--rrf-k", type=int, default=60, help="Reciprocal rank fusion constant.")
@click.option("--round-trip-depth", type=int, default=20, help="Keep a query if its source is in this top-N.")
@click.option(
    "--round-trip-rule",
    type=click.Choice(["fused", "any"]),
    default="fused",
    help="Top-N of the fused list, or of any single retriever's list.",
)
@encoder_options
@bm25_options
@click.option("--faiss-index", default="Flat", help="Flat, HNSW, IVF,PQ, IVF,Flat or a faiss factory string.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=Path(".cache/embeddings"),
    help="Corpus embeddings of extra dense:<model-ref> retrievers.",
)
@queries_per_unit_option("Queries retrieved together")
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for run.trec, candidates.jsonl.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(
    queries: Path,
    prepared: Path,
    index_dir: Path,
    retrievers: str,
    k: int,
    rrf_k: int,
    round_trip_depth: int,
    round_trip_rule: str,
    bm25_k1: float,
    bm25_b: float,
    faiss_index: str,
    cache_dir: Path,
    queries_per_unit: int,
    shard: Shard,
    merge: int,
    out: Path,
    stats: Path,
    **enc: object,
) -> None:  # fmt: skip
    check_shard_options(shard, merge)
    try:
        config = MineConfig(k, rrf_k, round_trip_depth, round_trip_rule)
        parse_retrievers(retrievers)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    generated = read_generated(queries)
    index = IndexPaths(index_dir)
    doc_ids = index.doc_ids
    known = set(doc_ids)
    unknown = [q.query_id for q in generated if q.source_doc_id not in known]
    if unknown:
        raise click.ClickException(f"{queries}: source_doc_id not in the corpus for queries {unknown[:5]}")
    excluded = excluded_docs(read_qrels(prepared / "qrels.txt"), read_duplicates(prepared / "duplicates.jsonl"))
    student = make_encoder_config(enc)
    names = ["fused", *parse_retrievers(retrievers)]
    work = units(len(generated), queries_per_unit)
    key = ""
    if merge or not shard.whole:  # what determines a part: settings and inputs
        settings = [vars(config), retrievers, vars(student), bm25_k1, bm25_b, faiss_index, queries_per_unit]
        key = fingerprint({"settings": settings, "excluded": sorted(excluded)}, queries, index_dir / "corpus_emb.json")
    if merge:
        try:
            result = merge_parts([f / PART for f, _ in read_manifests(out, merge, key)], generated, names, config)
        except (ShardError, FormatError) as e:
            raise click.ClickException(str(e)) from e
    else:
        needs_corpus = any(p.startswith("dense:") for p in names)
        corpus = prepared / "corpus.jsonl"
        models = build_retrievers(
            retrievers, index.lucene, index.embeddings, doc_ids, student, bm25_k1, bm25_b,
            faiss_index, read_docs(corpus) if needs_corpus else None, corpus, cache_dir,
        )  # fmt: skip
        own = shard.take(work)
        result = mine_units(models, generated, config, excluded, len(doc_ids), own)
        if not shard.whole:
            folder = begin_part(out, shard)
            write_part(folder / PART, [q for u in own for q in generated[u.start : u.stop]], result)
            finish_part(folder, shard, key, len(work))
            click.echo(f"mine {queries.name}: shard {shard}: {len(result.ranks['fused'])} queries to {folder}")
            return
    write_run(out / "run.trec", result.run, tag="mine_rrf")
    write_jsonl(out / "candidates.jsonl", result.candidates)
    write_json(stats, {**result.stats, "excluded_passages": len(excluded), "retrievers": retrievers})
    click.echo(
        f"mine {queries.name}: {result.stats['kept']}/{result.stats['queries_in']} kept; "
        f"source recall (fused) {result.stats['source_recall_fused']}"
    )


if __name__ == "__main__":
    main()
