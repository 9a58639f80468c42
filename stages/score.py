"""score: the teacher scores each mined query's first L candidates; filter, normalise and split the lists into
train and dev JSONL for one query type.

Reads ``seed``, ``device``, ``student``, ``bm25``, ``teacher`` and ``score``. ``--shard i/N`` has the teacher
score one contiguous range of the units of ``--queries-per-unit`` queries and writes their raw scores into
``<out>.shards/<i>-of-<N>/``; ``--merge N`` filters, normalises and splits the raw scores of all N parts (the
global steps), writing the outputs a whole run writes (docs/sharding.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import stage_settings
from listdistill.errors import friendly
from listdistill.index.runs import IndexPaths
from listdistill.io import write_json
from listdistill.records import read_docs, write_scored
from listdistill.score.lists import (
    finalise,
    raw_scores,
    read_mined,
    read_raw,
    summary,
    teacher_label,
    teacher_lists,
    write_raw,
)
from listdistill.shard import Shard, units
from listdistill.teachers import build_teacher
from stages.options import params_options, queries_per_unit_option, read_params, shard_options, shard_run, stage_main

PART = "raw.jsonl"


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--candidates", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="mine's candidates.jsonl for one query type.")  # fmt: skip
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="The index stage's folder (needed by the bm25 and dense teachers).")  # fmt: skip
@queries_per_unit_option("Queries per teacher call")
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for train.jsonl and dev.jsonl.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], candidates: Path, corpus: Path, index_dir: Path | None,
         queries_per_unit: int, shard: Shard, merge: int, out: Path, stats: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    config, tc = p.to_score(), p.to_teacher()
    # every input checked against the corpus before any work (docs/formats.md)
    corpus_docs = read_docs(corpus)
    mined = read_mined(candidates, {d.doc_id for d in corpus_docs})
    index = IndexPaths(index_dir) if index_dir is not None else None
    if index is not None:
        index.check(corpus_docs, corpus)
    if not mined:
        raise click.ClickException(f"{candidates}: expected mined queries, got an empty file (mine kept none?)")
    lists = teacher_lists(mined, config.depth)
    work = units(len(lists), queries_per_unit)
    # what determines the raw scores (a merge may filter, normalise and split them with other score.* values)
    deciding = {k: v for k, v in stage_settings(p, "score").items() if k in ("student", "bm25", "teacher")}
    settings = {**deciding, "depth": config.depth, "queries_per_unit": queries_per_unit, "index": index_dir is not None}
    index_ids = [index_dir / "corpus_emb.json"] if index_dir is not None else []
    run = shard_run(shard, merge, out, settings, candidates, corpus, *index_ids)
    start = time.perf_counter()
    if merge:
        raw = read_raw([folder / PART for folder, _ in run.parts()], lists)
    else:
        docs = {d.doc_id: d for d in corpus_docs}
        resources = p.to_resources(index.lucene, index.embeddings, index.doc_ids) if index else None
        own = shard.take(work)
        teacher = build_teacher(tc, resources)
        try:
            start = time.perf_counter()
            raw = raw_scores(lists, teacher, docs, own)
        except (ValueError, KeyError) as e:
            raise click.ClickException(f"{candidates}: {e.args[0] if isinstance(e, KeyError) else e}") from e
        if run.is_part:
            folder = run.begin()
            write_raw(folder / PART, [c for u in own for c in lists[u.start : u.stop]], raw)
            run.finish(folder, len(work))
            click.echo(f"score {candidates.parent.name}: shard {shard}: {len(raw)} lists to {folder}")
            return
    result = finalise(mined, lists, raw, config)
    seconds = time.perf_counter() - start
    t = p.teacher
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_scored(tmp / "train.jsonl", result.train)
        write_scored(tmp / "dev.jsonl", result.dev)
        write_json(tmp_stats, {**result.stats, "teacher": teacher_label(t.kind, t.ensemble, t.normalise)})
    click.echo(summary(candidates.parent.name, result.stats, seconds))


if __name__ == "__main__":
    stage_main(main)
