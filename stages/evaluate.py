"""evaluate: BM25, the zero-shot student, their fusion, the teacher's rerank (its ceiling) and the fine-tuned
student when given, on the test set ``prepare`` chose (:mod:`listdistill.evaluate.testsets`): the judged test queries
(documents ranked by their best passage when the corpus was chunked), or, without judgments, the label-free
proxy set (agreement with the teacher, which is then not scored itself), plus the hidden judgments with
``dataset.judgments: hide``. TREC runs, per-query measures, a significance test, metrics/eval.json, and the plot
data (per-system means with bootstrap intervals, the per-query difference student - zero-shot).

Reads ``seed``, ``device``, ``student``, ``bm25``, ``teacher``, ``score.depth`` (the lists the teacher reranks),
``mine.rrf_k`` and ``evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.evaluate.evaluation import summary_lines, write_evaluation
from listdistill.evaluate.systems import check_student, system_runs
from listdistill.evaluate.testsets import collection_info, eval_sets, passage_depth
from listdistill.index.runs import IndexPaths
from listdistill.records import read_docs
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--proxy", "proxy_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The proxy stage's folder (the label-free test set).")  # fmt: skip
@click.option("--student", "student_dir", type=click.Path(path_type=Path), default=None,
              help="Fine-tuned student folder, tested against the zero-shot student.")  # fmt: skip
@click.option("--teacher/--no-teacher", default=True, help="Rerank hybrid_rrf's top score.depth with the teacher.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for runs and per-query TSV.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the plot data: systems.tsv, difference.tsv.")  # fmt: skip
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, proxy_dir: Path | None,
         student_dir: Path | None, teacher: bool, out: Path, metrics: Path,
         plots_dir: Path | None) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    check_student(student_dir)
    info = collection_info(prepared)
    if info.evaluation == "label-free" and proxy_dir is None:
        raise click.UsageError(f"{prepared / 'collection.json'}: the evaluation is label-free: give --proxy")
    # every input checked against the others before any work (docs/formats.md)
    docs = read_docs(prepared / "corpus.jsonl")
    sets = eval_sets(info, prepared, proxy_dir or Path("."), docs)
    index, e, zero_shot = IndexPaths(index_dir), p.evaluate, p.to_encoder()
    doc_ids = list(index.check(docs, prepared / "corpus.jsonl", e.faiss_index).doc_ids)  # the metadata, read once
    runs = system_runs(index, docs, sets, passage_depth(e.depth, doc_ids, info.chunked), encoder=zero_shot,
                       faiss_index=e.faiss_index, k1=p.bm25.k1, b=p.bm25.b, rrf_k=p.mine.rrf_k,
                       teacher=p.to_teacher() if teacher else None, teacher_depth=p.score.depth,
                       resources=p.to_resources(index.lucene, index.embeddings, doc_ids, zero_shot),
                       student_dir=student_dir)  # fmt: skip
    with stage_outputs(out, metrics, *([plots_dir] if plots_dir else [])) as (tmp, tmp_metrics, *tmp_plots):
        result = write_evaluation(sets, runs, tmp, tmp_metrics, tmp_plots[0] if tmp_plots else None, e.depth, p.seed)
    for line in summary_lines(result):
        click.echo(line)


if __name__ == "__main__":
    stage_main(main)
