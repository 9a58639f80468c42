"""The runs of every system the evaluate stage compares: BM25, the zero-shot student, their fusion, the teacher's
rerank (its ceiling) and the fine-tuned student when given, retrieved once for the queries of all test sets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from listdistill.encoder import EncoderConfig
from listdistill.errors import StageError
from listdistill.evaluate.testsets import EvalSet
from listdistill.index.runs import IndexPaths, bm25_run, student_run, zero_shot_run
from listdistill.io import Run
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Doc, Query
from listdistill.teachers import TeacherConfig, TeacherResources, build_teacher
from listdistill.teachers.base import rerank_run


def check_student(student_dir: Path | None) -> None:
    """``student_dir`` (when given) is a model folder."""
    if student_dir is not None and not any((student_dir / f).is_file() for f in ("modules.json", "config.json")):
        raise StageError(f"--student {student_dir}: not a model folder (no config.json or modules.json)")


def system_runs(index: IndexPaths, docs: list[Doc], sets: list[EvalSet], depth: int, *, encoder: EncoderConfig,
                faiss_index: str, k1: float, b: float, rrf_k: int, teacher: TeacherConfig | None,
                resources: TeacherResources, teacher_depth: int,
                student_dir: Path | None) -> list[dict[str, Run]]:  # fmt: skip
    """Each test set's runs per system, retrieved once for the queries of all sets (ids kept apart by a prefix);
    the teacher (``None``: not run) reranks hybrid_rrf's top ``teacher_depth`` of the judged sets."""
    queries = [Query(f"{i}/{q.query_id}", q.text) for i, ts in enumerate(sets) for q in ts.queries]
    if not queries:
        return [{} for _ in sets]
    runs = {"bm25": bm25_run(index, queries, depth, k1, b)}
    runs["student_zero_shot"] = zero_shot_run(encoder, index, queries, depth, faiss_index)
    runs["hybrid_rrf"] = hybrid_run([runs["bm25"], runs["student_zero_shot"]], depth, rrf_k)
    judged = [q for q in queries if not sets[int(q.query_id.split("/", 1)[0])].label_free]
    if teacher is not None and judged:  # the label-free labels are the teacher's: scoring it there would be circular
        reranker = build_teacher(teacher, resources)
        texts = {d.doc_id: d for d in docs}
        runs["teacher"] = rerank_run(reranker, judged, runs["hybrid_rrf"], texts, teacher_depth)
    if student_dir is not None:
        tuned = dataclasses.replace(encoder, model=str(student_dir))
        runs["student"] = student_run(tuned, docs, queries, depth, faiss_index, index)
    split: list[dict[str, Run]] = [{} for _ in sets]
    for name, system in runs.items():
        for qid, scores in system.items():
            i, original = qid.split("/", 1)
            split[int(i)].setdefault(name, {})[original] = scores
    return split
