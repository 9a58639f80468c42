"""score: the teacher scores each mined query's first L candidates; filter, normalise and split the lists into
train and dev JSONL for one query type.

``--shard i/N`` has the teacher score one contiguous range of the units of ``--queries-per-unit`` queries and
writes their raw scores into ``<out>.shards/<i>-of-<N>/``; ``--merge N`` filters, normalises and splits the raw
scores of all N parts (the global steps), writing the outputs a whole run writes (docs/sharding.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from listdistill.evaluation import IndexPaths
from listdistill.io import FormatError, read_docs, write_json, write_jsonl
from listdistill.score import (
    ScoreConfig,
    finalise,
    raw_scores,
    read_mined,
    read_raw,
    teacher_lists,
    write_raw,
)
from listdistill.shard import Shard, ShardError, begin_part, fingerprint, finish_part, read_manifests, units
from listdistill.teachers import KINDS, TeacherConfig, TeacherResources, build_teacher
from listdistill.teachers.query_likelihood import DEFAULT_PROMPT
from stages.options import (
    bm25_options,
    check_shard_options,
    encoder_options,
    make_encoder_config,
    queries_per_unit_option,
    shard_options,
    teacher_options,
)

PART = "raw.jsonl"


@click.command(context_settings={"show_default": True})
@click.option(
    "--candidates",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="mine's candidates.jsonl for one query type.",
)
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="The index stage's folder (needed by the bm25 and dense teachers).",
)
@click.option("--teacher", "kind", type=click.Choice(KINDS), default="ensemble", help="Teacher kind.")
@teacher_options
@click.option("--teacher-prompt", default=DEFAULT_PROMPT, help="query_likelihood prompt; must contain {passage}.")
@click.option("--depth", type=int, default=20, help="Candidates scored per query (L).")
@click.option(
    "--consistency", type=bool, default=True, help="Keep a query only if its source ranks first (true/false)."
)
@click.option("--min-top-percentile", type=float, default=25.0, help="Drop queries whose top score is below this.")
@click.option("--norm-low", type=float, default=1.0, help="Percentile of all scores mapped to 0.")
@click.option("--norm-high", type=float, default=99.0, help="Percentile of all scores mapped to 1.")
@click.option("--dev-fraction", type=float, default=0.1)
@click.option("--seed", type=int, default=42)
@encoder_options
@bm25_options
@queries_per_unit_option("Queries per teacher call")
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for train.jsonl and dev.jsonl.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(
    candidates: Path,
    corpus: Path,
    index_dir: Path | None,
    kind: str,
    teacher_model: str,
    ensemble: str,
    normalise: str,
    teacher_batch_size: int,
    teacher_max_length: int,
    teacher_prompt: str,
    depth: int,
    consistency: bool,
    min_top_percentile: float,
    norm_low: float,
    norm_high: float,
    dev_fraction: float,
    seed: int,
    bm25_k1: float,
    bm25_b: float,
    queries_per_unit: int,
    shard: Shard,
    merge: int,
    out: Path,
    stats: Path,
    **enc: object,
) -> None:  # fmt: skip
    check_shard_options(shard, merge)
    student = make_encoder_config(enc)
    try:
        config = ScoreConfig(depth, consistency, min_top_percentile, norm_low, norm_high, dev_fraction, seed)
        tc = TeacherConfig(kind, teacher_model, ensemble, normalise, teacher_batch_size, teacher_max_length,
                           teacher_prompt, student.device)  # fmt: skip
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    mined = read_mined(candidates)
    lists = teacher_lists(mined, depth)
    work = units(len(lists), queries_per_unit)
    key = ""
    if merge or not shard.whole:  # what determines the raw scores: the teacher, the lists, the units
        settings = [vars(tc), vars(student), bm25_k1, bm25_b, depth, queries_per_unit, index_dir is not None]
        index_ids = [index_dir / "corpus_emb.json"] if index_dir is not None else []
        key = fingerprint({"settings": settings}, candidates, corpus, *index_ids)
    if merge:
        start = time.perf_counter()
        try:
            raw = read_raw([folder / PART for folder, _ in read_manifests(out, merge, key)], lists)
        except (ShardError, FormatError) as e:
            raise click.ClickException(str(e)) from e
    else:
        docs = {d.doc_id: d for d in read_docs(corpus)}
        index = IndexPaths(index_dir) if index_dir is not None else None
        resources = TeacherResources(
            lucene_dir=index.lucene if index else None,
            corpus_emb=index.embeddings if index else None,
            doc_ids=index.doc_ids if index else [],
            student=student,
            bm25_k1=bm25_k1,
            bm25_b=bm25_b,
        )
        own = shard.take(work)
        try:
            teacher = build_teacher(tc, resources)
            start = time.perf_counter()
            raw = raw_scores(lists, teacher, docs, own)
        except (ValueError, KeyError) as e:
            raise click.ClickException(f"{candidates}: {e}") from e
        if not shard.whole:
            folder = begin_part(out, shard)
            write_raw(folder / PART, [c for u in own for c in lists[u.start : u.stop]], raw)
            finish_part(folder, shard, key, len(work))
            click.echo(f"score {candidates.parent.name}: shard {shard}: {len(raw)} lists to {folder}")
            return
    result = finalise(mined, lists, raw, config)
    seconds = time.perf_counter() - start
    write_jsonl(out / "train.jsonl", result.train)
    write_jsonl(out / "dev.jsonl", result.dev)
    write_json(stats, {**result.stats, "teacher": kind if kind != "ensemble" else f"ensemble({ensemble}; {normalise})"})
    pairs = int(result.stats["pairs_scored"])  # type: ignore[call-overload]
    click.echo(
        f"score {candidates.parent.name}: {result.stats['kept']}/{result.stats['queries_in']} kept "
        f"(train {result.stats['train']}, dev {result.stats['dev']}); {pairs} pairs in {seconds:.1f}s"
        f" ({pairs / max(seconds, 1e-9):.1f} pairs/s)"
    )


if __name__ == "__main__":
    main()
