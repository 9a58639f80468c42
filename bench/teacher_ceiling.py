"""Teacher ceiling: every available teacher reranking the fused (BM25 + zero-shot student, RRF) top L of the TEST
queries, per collection. Chooses the offline default teacher (best nDCG@10 on Vaswani; Cranfield is reported).

    python bench/teacher_ceiling.py \
        --collection vaswani /work/exp/vas/prepared /work/exp/vas/index \
        --collection cranfield /work/exp/cran/prepared /work/exp/cran/index \
        --out bench/results/teacher_ceiling.json

(or one collection per run, the later run taking the earlier rows with ``--include earlier.json``).

Components: ``bm25``, ``dense`` (the zero-shot student, MiniLM, over the index's corpus embeddings) and the
other encoders the ensembles name (``mpnet`` = ``dense:packaged:all-mpnet-base-v2``, ``nomic`` =
``dense:packaged:nomic-embed-text-v1.5``: the teacher member encodes the candidate passages itself; with an empty
or no ``--embedding-cache`` its CPU seconds are the real cost). Each component's scores are computed once per
collection; the ensembles (``--ensemble``; the table's spec column is the ``teacher.ensemble`` param string) reuse
them through the same EnsembleTeacher code the score stage runs. Every row has a paired randomization p against
the fused list and against the current default teacher (``0.5*bm25+0.5*dense``), since picking the best of many
weightings on 93 queries selects noise too. Query likelihood (SmolLM2) is slow on CPU, so it runs on the first
``--ql-queries`` test queries only (0: skip, -1: all); its rows, and the other kinds' rows on the same subset, are
marked ``subset``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import click
import numpy as np

from listdistill.config import Params
from listdistill.evaluate.metrics import evaluate, paired_randomization, per_query
from listdistill.index.runs import IndexPaths, bm25_run, zero_shot_run
from listdistill.io import atomic_open
from listdistill.mine.fusion import hybrid_run
from listdistill.records import Doc, Query, read_docs, read_qrels, read_queries
from listdistill.teachers import (
    KINDS,
    Candidates,
    Teacher,
    TeacherResources,
    build_teacher,
    rerank_run,
)
from listdistill.teachers.ensemble import EnsembleTeacher, parse_ensemble

MEASURES = ("nDCG@10", "RR@10", "R@20")
DEFAULT = "0.5*bm25+0.5*dense"
# short names in the ensemble list below -> the member kinds of the teacher.ensemble param
ALIASES = {
    "MiniLM": "dense",
    "mpnet": "dense:packaged:all-mpnet-base-v2",
    "nomic": "dense:packaged:nomic-embed-text-v1.5",
}
ENSEMBLES = (
    "0.5*bm25+0.5*MiniLM",
    "0.3*bm25+0.7*MiniLM",
    "0.7*bm25+0.3*MiniLM",
    "0.3*bm25+0.7*mpnet",
    "0.4*bm25+0.6*mpnet",
    "0.5*bm25+0.5*mpnet",
    "0.6*bm25+0.4*mpnet",
    "0.7*bm25+0.3*mpnet",
    "0.5*MiniLM+0.5*mpnet",
    "0.34*bm25+0.33*MiniLM+0.33*mpnet",
    "0.4*bm25+0.3*MiniLM+0.3*mpnet",
    "0.4*bm25+0.2*MiniLM+0.4*mpnet",
    "0.5*bm25+0.25*MiniLM+0.25*mpnet",
    "0.3*bm25+0.2*MiniLM+0.5*mpnet",
    "0.3*bm25+0.7*nomic",
    "0.5*bm25+0.5*nomic",
    "0.7*bm25+0.3*nomic",
    "0.5*mpnet+0.5*nomic",
    "0.34*bm25+0.33*mpnet+0.33*nomic",
    "0.4*bm25+0.3*mpnet+0.3*nomic",
    "0.5*bm25+0.25*mpnet+0.25*nomic",
    "0.3*bm25+0.35*mpnet+0.35*nomic",
    "0.25*bm25+0.25*MiniLM+0.25*mpnet+0.25*nomic",
    "0.4*bm25+0.2*MiniLM+0.2*mpnet+0.2*nomic",
)


def expand(spec: str) -> str:
    """``0.5*bm25+0.5*mpnet`` -> ``0.5*bm25+0.5*dense:packaged:all-mpnet-base-v2`` (the param string)."""
    terms = []
    for term in spec.split("+"):
        weight, _, kind = term.strip().rpartition("*")
        terms.append(f"{weight}*" * bool(weight) + ALIASES.get(kind, kind))
    return "+".join(terms)


def short(spec: str) -> str:
    """The inverse of :func:`expand`."""
    names = {v: k for k, v in ALIASES.items()}
    terms = []
    for term in spec.split("+"):
        weight, _, kind = term.rpartition("*")
        terms.append(f"{weight}*" * bool(weight) + names.get(kind, kind))
    return "+".join(terms)


class Memo(Teacher):
    """Scores computed once by ``inner`` for a fixed set of lists, then looked up."""

    def __init__(self, inner: Teacher, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> None:
        self.name = inner.name
        start, cpu = time.perf_counter(), time.process_time()
        self.table = {c: s for c, s in zip(lists, inner.score(lists, docs), strict=True)}
        self.seconds = time.perf_counter() - start
        self.cpu_seconds = time.process_time() - cpu
        self.pairs = sum(len(c.doc_ids) for c in lists)
        self.passages = len({d for c in lists for d in c.doc_ids})

    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        return [self.table[c] for c in lists]


def evaluate_collection(
    name: str,
    prepared: Path,
    index_dir: Path,
    depth: int,
    k1: float,
    b: float,
    ql_queries: int,
    ensembles: Sequence[str],
    cache: Path | None,
) -> list[dict[str, object]]:
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    queries = [q for q in queries if any(r > 0 for r in qrels.get(q.query_id, {}).values())]
    docs = {d.doc_id: d for d in read_docs(prepared / "corpus.jsonl")}
    index = IndexPaths(index_dir)
    p = Params()  # the student and the fusion as the pipeline's defaults
    student = p.to_encoder()
    runs = [bm25_run(index, queries, 100, k1, b), zero_shot_run(student, index, queries, 100, p.evaluate.faiss_index)]
    fused = hybrid_run(runs, 100, p.mine.rrf_k)
    res = TeacherResources(index.lucene, index.embeddings, index.doc_ids, student, k1, b, embedding_cache=cache)

    def lists_of(qs: Sequence[Query]) -> list[Candidates]:
        return [rerank_lists(fused, q, depth) for q in qs]

    rows: list[dict[str, object]] = []
    base_pq = per_query(qrels, fused, MEASURES)["nDCG@10"]
    default_pq: dict[str, float] = {}

    def add(label: str, spec: str, teacher: Teacher | None, qs: Sequence[Query], subset: bool, m: Memo | None = None):
        qids = {q.query_id for q in qs}
        run = rerank_run(teacher, qs, fused, docs, depth) if teacher else {q: fused[q] for q in qids if q in fused}
        q_rel = {q: qrels[q] for q in qids}
        scores = evaluate(q_rel, run, MEASURES)
        pq = per_query(q_rel, run, ["nDCG@10"])["nDCG@10"]
        p = paired_randomization(pq, {q: base_pq[q] for q in pq}) if teacher else 1.0
        p_def = (
            paired_randomization(pq, {q: default_pq[q] for q in pq}) if teacher and default_pq and not subset else 1.0
        )
        rows.append({"collection": name, "teacher": label, "spec": spec, "queries": len(qids), "subset": subset,
                     **scores, "p_vs_fused": round(p, 4), "p_vs_default": round(p_def, 4),
                     "seconds": round(m.seconds, 1) if m else 0.0, "cpu_seconds": round(m.cpu_seconds, 1) if m else 0.0,
                     "pairs": m.pairs if m else 0, "passages": m.passages if m else 0})  # fmt: skip
        click.echo(f"{name:10s} {label:44s} n={len(qids):4d} " + " ".join(f"{k} {v:.4f}" for k, v in scores.items()))

    all_lists = lists_of(queries)
    specs = list(dict.fromkeys([DEFAULT, *(expand(e) for e in ensembles)]))
    kinds = list(dict.fromkeys(["bm25", "dense", *(k for spec in specs for _, k in parse_ensemble(spec, KINDS[:-1]))]))
    comps: dict[str, Memo] = {}
    for kind in kinds:
        comps[kind] = Memo(build_teacher(p.to_teacher(kind), res), all_lists, docs)
        click.echo(
            f"{name}: {kind}: {comps[kind].pairs} pairs, {comps[kind].passages} distinct passages, "
            f"{comps[kind].seconds:.0f} s wall, {comps[kind].cpu_seconds:.0f} CPU-s"
        )
    default_teacher = EnsembleTeacher([(w, comps[k]) for w, k in parse_ensemble(DEFAULT, KINDS[:-1])])
    default_pq.update(
        per_query(qrels, rerank_run(default_teacher, queries, fused, docs, depth), ["nDCG@10"])["nDCG@10"]
    )
    add("fused (RRF, no rerank)", "", None, queries, False)
    for kind in kinds:
        add(short(kind) + (" (the student)" if kind == "dense" else ""), kind, comps[kind], queries, False, comps[kind])
    for spec in specs:
        members = parse_ensemble(spec, KINDS[:-1])
        for norm in ("zscore", "minmax") if spec == DEFAULT else ("zscore",):
            ens = EnsembleTeacher([(w, comps[k]) for w, k in members], norm)
            label = f"{short(spec)} ({norm})" + (" (today's default)" if spec == DEFAULT and norm == "zscore" else "")
            add(label, spec if norm == "zscore" else f"{spec} [minmax]", ens, queries, False)
    if ql_queries:
        sub = queries if ql_queries < 0 else queries[:ql_queries]
        subset = len(sub) < len(queries)
        ql = Memo(build_teacher(p.to_teacher("query_likelihood"), res), lists_of(sub), docs)
        click.echo(f"{name}: query likelihood {len(sub) * depth} pairs in {ql.seconds:.0f}s")
        add("fused (RRF, no rerank)", "", None, sub, subset)
        add("query_likelihood (SmolLM2-135M)", "query_likelihood", ql, sub, subset, ql)
        for k, t in comps.items():
            add(short(k), k, t, sub, subset)
        add(f"{DEFAULT} (zscore)", DEFAULT, EnsembleTeacher([(0.5, comps["bm25"]), (0.5, comps["dense"])]), sub, subset)
        members3 = [(0.4, comps["bm25"]), (0.4, comps["dense"]), (0.2, ql)]
        add("0.4*bm25+0.4*dense+0.2*query_likelihood (zscore)", "", EnsembleTeacher(members3), sub, subset)
    return rows


def rerank_lists(run: Mapping[str, Mapping[str, float]], q: object, depth: int) -> Candidates:
    scores = run.get(q.query_id, {})  # type: ignore[attr-defined]
    ids = tuple(d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])
    return Candidates(q.query_id, q.text, ids)  # type: ignore[attr-defined]


def markdown(rows: Sequence[dict[str, object]], depth: int) -> str:
    lines = [f"| collection | teacher reranking the fused top {depth} | queries | nDCG@10 | RR@10 | R@20 "
             "| p vs fused | p vs default | CPU-s (pairs / passages encoded) |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        n = f"{r['queries']}{' (subset)' if r['subset'] else ''}"
        cost = f"{r['cpu_seconds']} ({r['pairs']} / {r['passages']})" if r["pairs"] else ""
        lines.append(
            f"| {r['collection']} | {r['teacher']} | {n} | {r['nDCG@10']:.3f} | {r['RR@10']:.3f} | {r['R@20']:.3f} "
            f"| {r['p_vs_fused']:.3f} | {r['p_vs_default']:.3f} | {cost} |"
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
@click.option("--depth", type=int, default=Params().score.depth, help="Candidates reranked (L).")
@click.option("--bm25-k1", type=float, default=Params().bm25.k1)
@click.option("--bm25-b", type=float, default=Params().bm25.b)
@click.option("--ql-queries", type=int, default=0, help="Query-likelihood subset size (0: skip, -1: all).")
@click.option(
    "--ensemble",
    "ensembles",
    multiple=True,
    default=ENSEMBLES,
    help=f"Ensembles to rank (teacher.ensemble strings; short names {sorted(ALIASES)}); every member alone too.",
)
@click.option(
    "--include",
    "includes",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rows of an earlier run's --out JSON to put first (collections measured one at a time).",
)
@click.option(
    "--embedding-cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Passage-embedding cache of the dense:<model-ref> members (as the score stage uses); a run that finds "
    "its passages there reports no encoding cost. Default: none (every passage encoded, the cost measured).",
)
@click.option("--out", type=click.Path(path_type=Path), help="JSON with every row (and a .md table beside it).")
def main(
    collections: Sequence[tuple[str, Path, Path]], depth: int, bm25_k1: float, bm25_b: float, ql_queries: int,
    ensembles: Sequence[str], embedding_cache: Path | None, includes: Sequence[Path], out: Path | None,
) -> None:  # fmt: skip
    rows = [r for path in includes for r in json.loads(path.read_text())]
    for name, prepared, index_dir in collections:
        rows += evaluate_collection(
            name, prepared, index_dir, depth, bm25_k1, bm25_b, ql_queries, ensembles, embedding_cache
        )
    table = markdown(rows, depth)
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
