"""Teacher ceiling: every available teacher kind reranking the fused (BM25 + zero-shot student, RRF) top L of
the TEST queries, per collection. Chooses the offline default teacher (best nDCG@10 on Vaswani).

    python bench/teacher_ceiling.py \
        --collection cranfield data/prepared data/index \
        --collection vaswani /tmp/vas/prepared /tmp/vas/index \
        --ql-queries 40 --out bench/results/teacher_ceiling.json

Each component's scores are computed once per collection; ensembles reuse them (the same EnsembleTeacher code
the score stage runs). Query likelihood (SmolLM2) is slow on CPU, so it runs on the first ``--ql-queries`` test
queries only (0: skip, -1: all); its rows, and the other kinds' rows on the same subset, are marked ``subset``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import click
import numpy as np

from listdistill.encoder import EncoderConfig
from listdistill.evaluation import IndexPaths, bm25_run, hybrid_run, zero_shot_run
from listdistill.io import Doc, atomic_open, read_docs, read_qrels, read_queries
from listdistill.metrics import evaluate, paired_randomization, per_query
from listdistill.teachers import Candidates, Teacher, TeacherConfig, TeacherResources, build_teacher, rerank_run
from listdistill.teachers.ensemble import EnsembleTeacher

MEASURES = ("nDCG@10", "RR@10", "R@20")
WEIGHTS = (0.3, 0.5, 0.7)  # weight of bm25; dense gets 1 - w


class Memo(Teacher):
    """Scores computed once by ``inner`` for a fixed set of lists, then looked up."""

    def __init__(self, inner: Teacher, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> None:
        self.name = inner.name
        start = time.perf_counter()
        self.table = {c: s for c, s in zip(lists, inner.score(lists, docs), strict=True)}
        self.seconds = time.perf_counter() - start

    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        return [self.table[c] for c in lists]


def evaluate_collection(
    name: str, prepared: Path, index_dir: Path, depth: int, k1: float, b: float, ql_queries: int
) -> list[dict[str, object]]:
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    queries = [q for q in queries if any(r > 0 for r in qrels.get(q.query_id, {}).values())]
    docs = {d.doc_id: d for d in read_docs(prepared / "corpus.jsonl")}
    index = IndexPaths(index_dir)
    student = EncoderConfig()
    fused = hybrid_run([bm25_run(index, queries, 100, k1, b), zero_shot_run(student, index, queries, 100, "Flat")], 100)
    res = TeacherResources(index.lucene, index.embeddings, index.doc_ids, student, k1, b)

    def lists_of(qs: Sequence[object]) -> list[Candidates]:
        return [rerank_lists(fused, q, depth) for q in qs]

    rows: list[dict[str, object]] = []
    base_pq = per_query(qrels, fused, MEASURES)

    def add(label: str, teacher: Teacher | None, qs: Sequence[object], subset: bool, seconds: float = 0.0) -> None:
        qids = {q.query_id for q in qs}  # type: ignore[attr-defined]
        run = rerank_run(teacher, qs, fused, docs, depth) if teacher else {q: fused[q] for q in qids if q in fused}
        q_rel = {q: qrels[q] for q in qids}
        m = evaluate(q_rel, run, MEASURES)
        pq = per_query(q_rel, run, ["nDCG@10"])["nDCG@10"]
        p = paired_randomization(pq, {q: base_pq["nDCG@10"][q] for q in pq}) if teacher else 1.0
        rows.append({"collection": name, "teacher": label, "queries": len(qids), "subset": subset, **m,
                     "p_vs_fused": round(p, 4), "seconds": round(seconds, 1)})  # fmt: skip
        click.echo(f"{name:10s} {label:40s} n={len(qids):4d} " + " ".join(f"{k} {v:.4f}" for k, v in m.items()))

    all_lists = lists_of(queries)
    comps = {k: Memo(build_teacher(TeacherConfig(kind=k), res), all_lists, docs) for k in ("bm25", "dense")}
    add("fused (RRF, no rerank)", None, queries, False)
    for k, t in comps.items():
        add(k, t, queries, False, t.seconds)
    for norm in ("zscore", "minmax"):
        for w in WEIGHTS:
            ens = EnsembleTeacher([(w, comps["bm25"]), (round(1 - w, 2), comps["dense"])], norm)
            add(f"ensemble {w}*bm25+{round(1 - w, 2)}*dense ({norm})", ens, queries, False)
    if ql_queries:
        sub = queries if ql_queries < 0 else queries[:ql_queries]
        subset = len(sub) < len(queries)
        ql = Memo(build_teacher(TeacherConfig(kind="query_likelihood"), res), lists_of(sub), docs)
        click.echo(f"{name}: query likelihood {len(sub) * depth} pairs in {ql.seconds:.0f}s")
        add("fused (RRF, no rerank)", None, sub, subset)
        add("query_likelihood (SmolLM2-135M)", ql, sub, subset, ql.seconds)
        for k, t in comps.items():
            add(k, t, sub, subset)
        add(
            "ensemble 0.5*bm25+0.5*dense (zscore)",
            EnsembleTeacher([(0.5, comps["bm25"]), (0.5, comps["dense"])]),
            sub,
            subset,
        )
        members = [(0.4, comps["bm25"]), (0.4, comps["dense"]), (0.2, ql)]
        add("ensemble 0.4*bm25+0.4*dense+0.2*ql (zscore)", EnsembleTeacher(members), sub, subset)
    return rows


def rerank_lists(run: Mapping[str, Mapping[str, float]], q: object, depth: int) -> Candidates:
    scores = run.get(q.query_id, {})  # type: ignore[attr-defined]
    ids = tuple(d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])
    return Candidates(q.query_id, q.text, ids)  # type: ignore[attr-defined]


def markdown(rows: Sequence[dict[str, object]]) -> str:
    lines = ["| collection | teacher (reranks fused top 20) | queries | nDCG@10 | RR@10 | R@20 | p vs fused |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        n = f"{r['queries']}{' (subset)' if r['subset'] else ''}"
        lines.append(
            f"| {r['collection']} | {r['teacher']} | {n} | {r['nDCG@10']:.3f} | {r['RR@10']:.3f} | {r['R@20']:.3f} "
            f"| {r['p_vs_fused']:.3f} |"
        )
    return "\n".join(lines)


@click.command(context_settings={"show_default": True})
@click.option(
    "--collection",
    "collections",
    type=(str, Path, Path),
    multiple=True,
    required=True,
    help="NAME PREPARED_DIR INDEX_DIR (repeatable).",
)
@click.option("--depth", type=int, default=20, help="Candidates reranked (L).")
@click.option("--bm25-k1", type=float, default=0.9)
@click.option("--bm25-b", type=float, default=0.4)
@click.option("--ql-queries", type=int, default=0, help="Query-likelihood subset size (0: skip, -1: all).")
@click.option("--out", type=click.Path(path_type=Path), help="JSON with every row (and a .md table beside it).")
def main(
    collections: Sequence[tuple[str, Path, Path]], depth: int, bm25_k1: float, bm25_b: float, ql_queries: int,
    out: Path | None,
) -> None:  # fmt: skip
    rows = []
    for name, prepared, index_dir in collections:
        rows += evaluate_collection(name, prepared, index_dir, depth, bm25_k1, bm25_b, ql_queries)
    table = markdown(rows)
    click.echo(table)
    full = [
        r for r in rows if r["collection"] == "vaswani" and not r["subset"] and r["teacher"] != "fused (RRF, no rerank)"
    ]
    if full:
        best = max(full, key=lambda r: (r["nDCG@10"], r["teacher"]))
        click.echo(f"best teacher on Vaswani (full query set): {best['teacher']} nDCG@10 {best['nDCG@10']:.4f}")
    if out:
        with atomic_open(out) as f:
            json.dump(rows, f, indent=2)
            f.write("\n")
        with atomic_open(out.with_suffix(".md")) as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
