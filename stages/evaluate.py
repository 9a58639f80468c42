"""evaluate: BM25, the zero-shot student, their fusion, and the fine-tuned student when given, on the test
queries; TREC runs, per-query measures, a significance test, and metrics/eval.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.evaluation import (
    IndexPaths,
    bm25_run,
    hybrid_run,
    score_systems,
    significance,
    student_run,
    zero_shot_run,
)
from listdistill.io import read_docs, read_qrels, read_queries, write_json
from listdistill.teachers import KINDS, TeacherConfig, TeacherResources, build_teacher
from listdistill.teachers.base import rerank_run
from stages.options import bm25_options, encoder_options, make_encoder_config, teacher_options


@click.command(context_settings={"show_default": True})
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@encoder_options
@click.option(
    "--student",
    "student_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Fine-tuned student folder; evaluated (with a significance test) when it exists.",
)
@click.option(
    "--teacher",
    "teacher_kind",
    type=click.Choice(KINDS),
    default=None,
    help="Teacher kind; when given, the teacher reranks hybrid_rrf's top --teacher-depth (its ceiling).",
)
@teacher_options
@click.option("--teacher-depth", type=int, default=20, help="Candidates the teacher reranks (L).")
@bm25_options
@click.option("--faiss-index", default="Flat", help="Flat, HNSW, IVF,PQ, IVF,Flat or a faiss factory string.")
@click.option("--depth", type=int, default=100, help="Run depth written and evaluated.")
@click.option("--rrf-k", type=click.IntRange(min=1), default=60, help="Reciprocal rank fusion constant (mine.rrf_k).")
@click.option("--seed", type=int, default=42, help="Seed of the randomization test.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for runs and per-query TSV.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
def main(
    prepared: Path,
    index_dir: Path,
    student_dir: Path | None,
    teacher_kind: str | None,
    teacher_model: str,
    ensemble: str,
    normalise: str,
    teacher_batch_size: int,
    teacher_max_length: int,
    teacher_depth: int,
    bm25_k1: float,
    bm25_b: float,
    faiss_index: str,
    depth: int,
    rrf_k: int,
    seed: int,
    out: Path,
    metrics: Path,
    **enc: object,
) -> None:
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    index = IndexPaths(index_dir)
    zero_shot = make_encoder_config(enc)
    runs = {"bm25": bm25_run(index, queries, depth, bm25_k1, bm25_b)}
    runs["student_zero_shot"] = zero_shot_run(zero_shot, index, queries, depth, faiss_index)
    runs["hybrid_rrf"] = hybrid_run([runs["bm25"], runs["student_zero_shot"]], depth, rrf_k)
    docs = read_docs(prepared / "corpus.jsonl")
    if teacher_kind is not None:
        tc = TeacherConfig(teacher_kind, teacher_model, ensemble, normalise, teacher_batch_size, teacher_max_length,
                           device=zero_shot.device)  # fmt: skip
        resources = TeacherResources(index.lucene, index.embeddings, index.doc_ids, zero_shot, bm25_k1, bm25_b)
        teacher = build_teacher(tc, resources)
        runs["teacher"] = rerank_run(teacher, queries, runs["hybrid_rrf"], {d.doc_id: d for d in docs}, teacher_depth)
    if student_dir is not None:
        if not (student_dir / "modules.json").is_file() and not (student_dir / "config.json").is_file():
            raise click.ClickException(f"--student {student_dir}: not a model folder (no config.json or modules.json)")
        tuned = dataclasses.replace(zero_shot, model=str(student_dir))
        runs["student"] = student_run(tuned, docs, queries, depth, faiss_index, index)
    means, pqs = score_systems(qrels, runs, out, depth=depth)
    result: dict[str, object] = dict(means)
    if "student" in runs:
        result["student_vs_zero_shot_p"] = significance(pqs, "student", "student_zero_shot", ["nDCG@10", "R@100"], seed)
    write_json(metrics, result)
    for name, m in means.items():
        click.echo(f"{name:20s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))


if __name__ == "__main__":
    main()
