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
import numpy as np

from listdistill.atomic import stage_outputs
from listdistill.config import stage_settings
from listdistill.errors import friendly
from listdistill.io import write_json
from listdistill.records import write_scored
from listdistill.score.inputs import read_inputs
from listdistill.score.lists import finalise, read_raw, summary, teacher_label, teacher_lists, write_raw
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
    inputs = read_inputs(candidates, corpus, index_dir)
    lists = teacher_lists(inputs.mined, config.depth)
    # what determines the raw scores (a merge may filter, normalise and split them with other score.* values)
    deciding = {k: v for k, v in stage_settings(p, "score").items() if k in ("student", "bm25", "teacher")}
    settings = {**deciding, "depth": config.depth, "queries_per_unit": queries_per_unit, "index": index_dir is not None}
    index_ids = [index_dir / "corpus_emb.json"] if index_dir is not None else []
    run = shard_run(shard, merge, out, settings, candidates, corpus, *index_ids)
    clock = [time.perf_counter()]

    def compute(own: list[range]) -> list[np.ndarray]:
        ix = inputs.index  # checked against the corpus: its doc ids are the corpus's, in order
        teacher = build_teacher(tc, p.to_resources(ix.lucene, ix.embeddings, list(inputs.docs)) if ix else None)
        clock[0] = time.perf_counter()  # the teacher's scoring time, without its loading
        return inputs.raw_scores(teacher, lists, own)

    raw = run.over_units(
        units(len(lists), queries_per_unit), PART, compute, merge=lambda parts: read_raw(parts, lists),
        save=lambda path, own, part: write_raw(path, [c for u in own for c in lists[u.start : u.stop]], part),
    )  # fmt: skip
    if raw is None:
        return
    result = finalise(inputs.mined, lists, raw, config)
    seconds = time.perf_counter() - clock[0]
    t = p.teacher
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_scored(tmp / "train.jsonl", result.train)
        write_scored(tmp / "dev.jsonl", result.dev)
        write_json(tmp_stats, {**result.stats, "teacher": teacher_label(t.kind, t.ensemble, t.normalise)})
    click.echo(summary(candidates.parent.name, result.stats, seconds))


if __name__ == "__main__":
    stage_main(main)
