"""prepare: load a collection, write the normalised corpus (cut into passages with ``dataset.chunk_tokens``),
test queries, qrels, the generation pool and, without judgments, the passages held out for the label-free
evaluation; ``collection.json`` says which evaluation the pipeline runs.

Reads ``seed``, ``dataset``, ``prepare``, ``student.model`` (its tokenizer counts the chunks' tokens) and
``proxy.heldout`` from the params file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.data import load_collection
from listdistill.data.chunk import tokenizer_counter
from listdistill.data.prepared import shape
from listdistill.errors import friendly
from listdistill.io import write_json
from listdistill.passages import document_of
from listdistill.pool import build_pool
from listdistill.records import (
    CollectionInfo,
    check_relevant,
    relevant_counts,
    write_collection_info,
    write_docs,
    write_duplicates,
    write_qrels,
    write_queries,
)
from listdistill.split import split_queries, training_split
from stages.options import params_options, read_params, stage_main


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
    spec = p.to_dataset(str(cache_dir))
    col = load_collection(spec)
    counter = lambda: tokenizer_counter(p.student.model)  # noqa: E731
    s = shape(col, d.judgments, d.chunk_tokens, d.chunk_overlap, counter)
    label_free = not s.queries
    hold_out = p.proxy.heldout if label_free else 0
    unit = document_of if s.chunked else None  # a chunked document is held out whole
    result = build_pool(s.docs, s.qrels, p.prepare.pool_size or None, p.seed, hold_out, unit)
    real, real_qrels, test, test_qrels = split_queries(s.queries, s.qrels, p.prepare.real_query_fraction, p.seed)
    if p.prepare.real_split:  # the collection's own training queries (e.g. SciFact's train claims)
        own = shape(load_collection(dataclasses.replace(spec, split=p.prepare.real_split)), "use",
                    d.chunk_tokens, d.chunk_overlap, counter)  # fmt: skip
        real, real_qrels = training_split(own.queries, own.qrels, test)
    if real:  # the collection has relevant judgments (checked); the split may have moved them all to training
        check_relevant(test_qrels, f"{d.name}: the test queries left by prepare.real_query_fraction")
    relevant = relevant_counts(test_qrels, [q.query_id for q in test])  # per test query, 0 when none is relevant
    evaluation = "judgments" if not label_free else "label-free" if result.heldout else "none"
    info = CollectionInfo(d.name, s.documents, len(s.docs), s.chunked, d.chunk_tokens, d.chunk_overlap, evaluation,
                          d.judgments == "hide" and bool(s.hidden_queries))  # fmt: skip
    counts = {"queries": len(test), "real_training_queries": len(real), "qrels_relevant": sum(relevant.values()),
              "relevant_per_query": relevant, "documents": s.documents, "evaluation": evaluation,
              "hidden_queries": len(s.hidden_queries)}  # fmt: skip
    with stage_outputs(out, stats) as (tmp, tmp_stats):  # the whole set, or nothing, replaces the old one
        tmp.mkdir()
        write_docs(tmp / "corpus.jsonl", s.docs)
        write_queries(tmp / "queries.jsonl", test)  # the only queries any system is evaluated on
        write_qrels(tmp / "qrels.txt", test_qrels)
        write_queries(tmp / "real_queries.jsonl", real)  # training queries of the real-query arm (none by default)
        write_qrels(tmp / "real_qrels.txt", real_qrels)
        write_docs(tmp / "pool.jsonl", result.pool)
        write_duplicates(tmp / "duplicates.jsonl", result.duplicates)
        write_docs(tmp / "heldout.jsonl", result.heldout)  # label-free evaluation's passages (proxy stage)
        write_queries(tmp / "hidden_queries.jsonl", s.hidden_queries)  # dataset.judgments: hide
        write_qrels(tmp / "hidden_qrels.txt", s.hidden_qrels)
        write_collection_info(tmp / "collection.json", info)
        write_json(tmp_stats, {"dataset": d.name, **counts, **result.stats, **s.stats, **col.notes})
    click.echo(
        f"prepare: {s.documents} docs ({len(s.docs)} passages), {len(test)} test and {len(real)} training queries, "
        f"pool {len(result.pool)}, held out {len(result.heldout)}; evaluation: {evaluation}"
    )


if __name__ == "__main__":
    stage_main(main)
