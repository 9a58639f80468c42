"""evaluate: BM25, the zero-shot student, their fusion, the teacher's rerank (its ceiling) and the fine-tuned
student when given, on the test queries; TREC runs, per-query measures, a significance test, metrics/eval.json.

Reads ``seed``, ``device``, ``student``, ``bm25``, ``teacher``, ``score.depth`` (the lists the teacher reranks),
``mine.rrf_k`` and ``evaluate``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly, run
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
from listdistill.records import check_relevant
from listdistill.teachers import TeacherResources, build_teacher
from listdistill.teachers.base import rerank_run
from stages.options import params_options, read_params


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@click.option(
    "--student",
    "student_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Fine-tuned student folder, tested against the zero-shot student.",
)
@click.option("--teacher/--no-teacher", default=True, help="Rerank hybrid_rrf's top score.depth with the teacher.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for runs and per-query TSV.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, student_dir: Path | None,
         teacher: bool, out: Path, metrics: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    depth, faiss_index = p.evaluate.depth, p.evaluate.faiss_index
    if student_dir is not None and not any((student_dir / f).is_file() for f in ("modules.json", "config.json")):
        raise click.ClickException(f"--student {student_dir}: not a model folder (no config.json or modules.json)")
    # every input checked against the others before any work (docs/formats.md)
    docs = read_docs(prepared / "corpus.jsonl")
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries, docs)
    check_relevant(qrels, str(prepared / "qrels.txt"))
    index = IndexPaths(index_dir)
    index.check(docs, prepared / "corpus.jsonl", faiss_index)
    zero_shot = p.to_encoder()
    runs = {"bm25": bm25_run(index, queries, depth, p.bm25.k1, p.bm25.b)}
    runs["student_zero_shot"] = zero_shot_run(zero_shot, index, queries, depth, faiss_index)
    runs["hybrid_rrf"] = hybrid_run([runs["bm25"], runs["student_zero_shot"]], depth, p.mine.rrf_k)
    if teacher:
        resources = TeacherResources(index.lucene, index.embeddings, index.doc_ids, zero_shot, p.bm25.k1, p.bm25.b)
        reranker = build_teacher(p.to_teacher(), resources)
        texts = {d.doc_id: d for d in docs}
        runs["teacher"] = rerank_run(reranker, queries, runs["hybrid_rrf"], texts, p.score.depth)
    if student_dir is not None:
        tuned = dataclasses.replace(zero_shot, model=str(student_dir))
        runs["student"] = student_run(tuned, docs, queries, depth, faiss_index, index)
    with stage_outputs(out, metrics) as (tmp, tmp_metrics):
        tmp.mkdir()
        means, pqs = score_systems(qrels, runs, tmp, depth=depth)
        result: dict[str, object] = dict(means)
        if "student" in runs:
            pair = ["nDCG@10", "R@100"]
            result["student_vs_zero_shot_p"] = significance(pqs, "student", "student_zero_shot", pair, p.seed)
        write_json(tmp_metrics, result)
    for name, m in means.items():
        click.echo(f"{name:20s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))


if __name__ == "__main__":
    run(main)
