"""real: the real-query arm's training lists, from the share of the collection's queries that ``prepare`` moved to
training (``prepare.real_query_fraction``), labelled by the teacher or, as the upper bound, by their qrels
(:mod:`listdistill.score.real`). Writes ``<out>/{train,dev}.jsonl`` in the ``score`` stage's format, so ``query_mix:
[real]`` trains on them; with no real training queries it writes empty files and loads nothing."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.errors import friendly
from listdistill.index.runs import IndexPaths, bm25_run, zero_shot_run
from listdistill.io import write_json
from listdistill.mine.candidates import excluded_docs, read_duplicates
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Query, ScoredQuery, read_docs, read_qrels, read_queries, write_scored
from listdistill.score.real import label_lists
from listdistill.teachers import build_teacher
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
    queries = read_queries(prepared / "real_queries.jsonl")
    train, dev = label(p, prepared, IndexPaths(index_dir), queries) if queries else ([], [])
    labels = p.real.labels
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_scored(tmp / "train.jsonl", train)
        write_scored(tmp / "dev.jsonl", dev)
        write_json(tmp_stats, {"labels": labels, "queries_in": len(queries), "train": len(train), "dev": len(dev)})
    click.echo(f"real ({labels}): {len(queries)} training queries -> train {len(train)}, dev {len(dev)}")


def label(
    p: Params, prepared: Path, index: IndexPaths, queries: list[Query]
) -> tuple[list[ScoredQuery], list[ScoredQuery]]:
    enc = p.to_encoder()
    cfg = p.to_real()
    # every input checked against the others before any work (docs/formats.md)
    corpus = read_docs(prepared / "corpus.jsonl")
    known = {d.doc_id for d in corpus}
    duplicates = read_duplicates(prepared / "duplicates.jsonl", known)
    excluded = excluded_docs(read_qrels(prepared / "qrels.txt", docs=corpus), duplicates)
    real_qrels = read_qrels(prepared / "real_qrels.txt", queries, corpus)
    index.check(corpus, prepared / "corpus.jsonl", "Flat")
    docs = {d.doc_id: d for d in corpus}
    deep = p.mine.k + len(excluded)  # enough to keep k candidates once the excluded passages are removed
    dense = zero_shot_run(enc, index, queries, deep, "Flat")
    fused = hybrid_run([bm25_run(index, queries, deep, p.bm25.k1, p.bm25.b), dense], deep, p.mine.rrf_k)
    teacher = None
    if cfg.labels == "teacher":
        teacher = build_teacher(p.to_teacher(), p.to_resources(index.lucene, index.embeddings, index.doc_ids, enc))
    qrels = real_qrels if cfg.labels == "qrels" else None
    return label_lists(queries, fused, cfg, docs, teacher, qrels, excluded)


if __name__ == "__main__":
    stage_main(main)
