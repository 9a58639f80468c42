"""evaluate: BM25, the zero-shot student, their fusion, the teacher's rerank (its ceiling) and the fine-tuned
student when given, on the test set ``prepare`` chose (:mod:`listdistill.evaluate.testsets`): the judged test queries
(documents ranked by their best passage when the corpus was chunked), or, without judgments, the label-free
proxy set (agreement with the teacher, which is then not scored itself), plus the hidden judgments with
``dataset.judgments: hide``. TREC runs, per-query measures, a significance test, metrics/eval.json, and the plot
data (per-system means with bootstrap intervals, the per-query difference student - zero-shot).

Reads ``seed``, ``device``, ``student``, ``bm25``, ``teacher``, ``score.depth`` (the lists the teacher reranks),
``mine.rrf_k`` and ``evaluate``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.errors import friendly
from listdistill.evaluate.evaluation import significance
from listdistill.evaluate.metrics import aggregate
from listdistill.evaluate.plots import DIFFERENCE_FIELDS, SYSTEM_FIELDS, difference_rows, system_rows
from listdistill.evaluate.testsets import EvalSet, collection_info, eval_sets, passage_depth
from listdistill.index.runs import IndexPaths, bm25_run, student_run, zero_shot_run
from listdistill.io import Run, write_json, write_tsv
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Doc, Query, natural_key, read_docs, write_run
from listdistill.teachers import build_teacher
from listdistill.teachers.base import rerank_run
from stages.options import params_options, read_params, stage_main

PerQuery = dict[str, dict[str, dict[str, float]]]  # system -> measure -> query -> value


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--proxy", "proxy_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The proxy stage's folder (the label-free test set).")  # fmt: skip
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
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the plot data: systems.tsv, difference.tsv.")  # fmt: skip
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, proxy_dir: Path | None,
         student_dir: Path | None, teacher: bool, out: Path, metrics: Path,
         plots_dir: Path | None) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    if student_dir is not None and not any((student_dir / f).is_file() for f in ("modules.json", "config.json")):
        raise click.ClickException(f"--student {student_dir}: not a model folder (no config.json or modules.json)")
    info = collection_info(prepared)
    if info.evaluation == "label-free" and proxy_dir is None:
        raise click.UsageError(f"{prepared / 'collection.json'}: the evaluation is label-free: give --proxy")
    # every input checked against the others before any work (docs/formats.md)
    docs = read_docs(prepared / "corpus.jsonl")
    sets = eval_sets(info, prepared, proxy_dir or Path("."), docs)
    index = IndexPaths(index_dir)
    index.check(docs, prepared / "corpus.jsonl", p.evaluate.faiss_index)
    runs = system_runs(p, index, docs, sets, student_dir, teacher, passage_depth(p.evaluate.depth,
                       index.doc_ids, info.chunked))  # fmt: skip
    outputs = [out, metrics, *([plots_dir] if plots_dir else [])]
    with stage_outputs(*outputs) as (tmp, tmp_metrics, *tmp_plots):
        tmp.mkdir()
        result: dict[str, object] = {"evaluation": {"kind": "none", "what": "no judgments and no held-out passages"}}
        pqs: PerQuery = {}
        for i, ts in enumerate(sets):
            block, pq = score_set(p, ts, runs[i], tmp if i == 0 else tmp / "hidden")
            if i == 0:
                result, pqs = block, pq
            else:
                result["hidden_judgments"] = block
        write_json(tmp_metrics, result)
        if tmp_plots:
            write_plots(tmp_plots[0], pqs, p.seed)
    for name, m in result.items():
        if name not in ("evaluation", "hidden_judgments") and isinstance(m, dict):
            click.echo(f"{name:26s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))


def system_runs(p: Params, index: IndexPaths, docs: list[Doc], sets: list[EvalSet], student_dir: Path | None,
                teacher: bool, depth: int) -> list[dict[str, Run]]:  # fmt: skip
    """Each test set's runs per system, retrieved once for the queries of all sets (ids kept apart by a prefix)."""
    queries = [Query(f"{i}/{q.query_id}", q.text) for i, ts in enumerate(sets) for q in ts.queries]
    if not queries:
        return [{} for _ in sets]
    zero_shot, faiss_index = p.to_encoder(), p.evaluate.faiss_index
    runs = {"bm25": bm25_run(index, queries, depth, p.bm25.k1, p.bm25.b)}
    runs["student_zero_shot"] = zero_shot_run(zero_shot, index, queries, depth, faiss_index)
    runs["hybrid_rrf"] = hybrid_run([runs["bm25"], runs["student_zero_shot"]], depth, p.mine.rrf_k)
    judged = [q for q in queries if not sets[int(q.query_id.split("/", 1)[0])].label_free]
    if teacher and judged:  # the label-free labels are the teacher's: scoring it there would be circular
        reranker = build_teacher(
            p.to_teacher(), p.to_resources(index.lucene, index.embeddings, index.doc_ids, zero_shot)
        )
        texts = {d.doc_id: d for d in docs}
        runs["teacher"] = rerank_run(reranker, judged, runs["hybrid_rrf"], texts, p.score.depth)
    if student_dir is not None:
        tuned = dataclasses.replace(zero_shot, model=str(student_dir))
        runs["student"] = student_run(tuned, docs, queries, depth, faiss_index, index)
    split: list[dict[str, Run]] = [{} for _ in sets]
    for name, system in runs.items():
        for qid, scores in system.items():
            i, original = qid.split("/", 1)
            split[int(i)].setdefault(name, {})[original] = scores
    return split


def score_set(p: Params, ts: EvalSet, runs: dict[str, Run], out: Path) -> tuple[dict[str, object], PerQuery]:
    """One test set's block of metrics/eval.json, its runs and per-query TSV under ``out``."""
    depth = p.evaluate.depth
    out.mkdir(parents=True, exist_ok=True)
    pqs: PerQuery = {name: ts.measures(system, depth) for name, system in runs.items()}
    for name, system in runs.items():
        write_run(out / f"{name}.trec", system, tag=name, k=depth)
    rows = [{"system": n, "measure": m, "query_id": q, "value": f"{v[q]:.4f}"}
            for n, pq in pqs.items() for m, v in pq.items() for q in sorted(v, key=natural_key)]  # fmt: skip
    write_tsv(out / "perquery.tsv", rows, ("system", "measure", "query_id", "value"))
    block: dict[str, object] = {"evaluation": ts.describe(), **{n: aggregate(pq) for n, pq in pqs.items()}}
    if "student" in pqs:
        measures = [m for m in pqs["student"] if m != "RR@10" and m != "R@20"]
        block["student_vs_zero_shot_p"] = significance(pqs, "student", "student_zero_shot", measures, p.seed)
    return block, pqs


def write_plots(folder: Path, pqs: PerQuery, seed: int) -> None:
    folder.mkdir()
    write_tsv(folder / "systems.tsv", system_rows(pqs, seed), SYSTEM_FIELDS)
    diff = []
    if "student" in pqs:
        diff = difference_rows(pqs["student"]["nDCG@10"], pqs["student_zero_shot"]["nDCG@10"])
    write_tsv(folder / "difference.tsv", diff, DIFFERENCE_FIELDS)


if __name__ == "__main__":
    stage_main(main)
