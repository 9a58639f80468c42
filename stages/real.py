"""real: the real-query arm's training lists, from the share of the collection's queries that ``prepare`` moved to
training (``prepare.real_query_fraction``), labelled by the teacher or, as the upper bound, by their qrels
(:mod:`listdistill.real`). Writes ``<out>/{train,dev}.jsonl`` in the ``score`` stage's format, so ``query_mix:
[real]`` trains on them; with no real training queries it writes empty files and loads nothing."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.evaluation import IndexPaths, bm25_run, hybrid_run, zero_shot_run
from listdistill.io import read_docs, read_qrels, read_queries, write_json, write_jsonl
from listdistill.mine import excluded_docs, read_duplicates
from listdistill.real import LABELS, RealConfig, label_lists
from listdistill.teachers import KINDS, TeacherConfig, TeacherResources, build_teacher
from stages.options import bm25_options, encoder_options, make_encoder_config, teacher_options


@click.command(context_settings={"show_default": True})
@click.option("--prepared", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--labels", type=click.Choice(LABELS), default="teacher", help="teacher | qrels (the upper bound).")
@click.option("--teacher", "kind", type=click.Choice(KINDS), default="ensemble")
@teacher_options
@encoder_options
@bm25_options
@click.option("--k", type=click.IntRange(min=2), default=100, help="Fused candidates per query (mine.k).")
@click.option("--rrf-k", type=click.IntRange(min=1), default=60)
@click.option("--depth", type=click.IntRange(min=2), default=20, help="Candidates per list (L).")
@click.option("--norm-low", type=float, default=1.0)
@click.option("--norm-high", type=float, default=99.0)
@click.option("--dev-fraction", type=float, default=0.1)
@click.option("--seed", type=int, default=42)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--stats", type=click.Path(path_type=Path), required=True)
def main(
    prepared: Path,
    index_dir: Path,
    labels: str,
    kind: str,
    teacher_model: str,
    ensemble: str,
    normalise: str,
    teacher_batch_size: int,
    teacher_max_length: int,
    bm25_k1: float,
    bm25_b: float,
    k: int,
    rrf_k: int,
    depth: int,
    norm_low: float,
    norm_high: float,
    dev_fraction: float,
    seed: int,
    out: Path,
    stats: Path,
    **encoder: object,
) -> None:
    enc = make_encoder_config(encoder)
    cfg = RealConfig(labels, depth, norm_low, norm_high, dev_fraction, seed)
    queries = read_queries(prepared / "real_queries.jsonl")
    train: list[dict[str, object]] = []
    dev: list[dict[str, object]] = []
    if queries:
        test_qrels = read_qrels(prepared / "qrels.txt")
        excluded = excluded_docs(test_qrels, read_duplicates(prepared / "duplicates.jsonl"))
        index = IndexPaths(index_dir)
        docs = {d.doc_id: d for d in read_docs(prepared / "corpus.jsonl")}
        deep = k + len(excluded)  # enough to keep k candidates once the excluded passages are removed
        dense = zero_shot_run(enc, index, queries, deep, "Flat")
        fused = hybrid_run([bm25_run(index, queries, deep, bm25_k1, bm25_b), dense], deep, rrf_k)
        teacher = None
        if labels == "teacher":
            tc = TeacherConfig(
                kind, teacher_model, ensemble, normalise, teacher_batch_size, teacher_max_length, device=enc.device
            )
            teacher = build_teacher(
                tc, TeacherResources(index.lucene, index.embeddings, index.doc_ids, enc, bm25_k1, bm25_b)
            )
        qrels = read_qrels(prepared / "real_qrels.txt") if labels == "qrels" else None
        train, dev = label_lists(queries, fused, cfg, docs, teacher, qrels, excluded)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "dev.jsonl", dev)
    write_json(stats, {"labels": labels, "queries_in": len(queries), "train": len(train), "dev": len(dev)})
    click.echo(f"real ({labels}): {len(queries)} training queries -> train {len(train)}, dev {len(dev)}")


if __name__ == "__main__":
    main()
