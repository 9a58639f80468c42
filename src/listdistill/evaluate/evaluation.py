"""The measures of each system's run on the test queries: per query and mean, paired significance, the TREC files,
metrics/eval.json and the plot data (the runs themselves come from :mod:`listdistill.evaluate.systems`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from listdistill.evaluate.metrics import DEFAULT_MEASURES, aggregate, paired_randomization, per_query
from listdistill.evaluate.plots import DIFFERENCE_FIELDS, SYSTEM_FIELDS, difference_rows, system_rows
from listdistill.evaluate.testsets import EvalSet
from listdistill.io import Qrels, Run, atomic_open, write_json, write_tsv
from listdistill.records import natural_key, write_run

PerQuery = dict[str, dict[str, dict[str, float]]]  # system -> measure -> query -> value


def significance(
    pqs: dict[str, dict[str, dict[str, float]]], system: str, baseline: str, measures: Sequence[str], seed: int = 0
) -> dict[str, float]:
    """Paired randomization p-values of ``system`` vs ``baseline`` per measure (4 decimals)."""
    return {m: round(paired_randomization(pqs[system][m], pqs[baseline][m], seed=seed), 4) for m in measures}


def score_systems(
    qrels: Qrels,
    runs: dict[str, Run],
    out_dir: Path,
    measures: Sequence[str] = DEFAULT_MEASURES,
    depth: int = 100,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """Write each run as TREC text and all per-query measures as one TSV; return (means, per-query)."""
    means, pqs = {}, {}
    for name, run in runs.items():
        write_run(out_dir / f"{name}.trec", run, tag=name, k=depth)
        pqs[name] = per_query(qrels, run, measures)
        means[name] = aggregate(pqs[name])
    with atomic_open(out_dir / "perquery.tsv") as f:
        f.write("system\tmeasure\tquery_id\tvalue\n")
        for name, pq in pqs.items():
            for m, values in pq.items():
                for qid in sorted(values, key=natural_key):
                    f.write(f"{name}\t{m}\t{qid}\t{values[qid]:.4f}\n")
    return means, pqs


def score_set(
    ts: EvalSet, runs: dict[str, Run], out: Path, depth: int, seed: int
) -> tuple[dict[str, object], PerQuery]:
    """One test set's block of metrics/eval.json, its runs and per-query TSV under ``out``."""
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
        block["student_vs_zero_shot_p"] = significance(pqs, "student", "student_zero_shot", measures, seed)
    return block, pqs


def write_evaluation(sets: list[EvalSet], runs: list[dict[str, Run]], out: Path, metrics: Path, plots: Path | None,
                     depth: int, seed: int) -> dict[str, object]:  # fmt: skip
    """Into the new folder ``out``: the first set's runs and per-query TSV (the hidden judgments' under
    ``out/hidden``); ``metrics``: metrics/eval.json, returned; ``plots`` (when given): the first set's plot data."""
    out.mkdir()
    result: dict[str, object] = {"evaluation": {"kind": "none", "what": "no judgments and no held-out passages"}}
    pqs: PerQuery = {}
    for i, ts in enumerate(sets):
        block, pq = score_set(ts, runs[i], out if i == 0 else out / "hidden", depth, seed)
        if i == 0:
            result, pqs = block, pq
        else:
            result["hidden_judgments"] = block
    write_json(metrics, result)
    if plots is not None:
        write_plots(plots, pqs, seed)
    return result


def write_plots(folder: Path, pqs: PerQuery, seed: int) -> None:
    folder.mkdir()
    write_tsv(folder / "systems.tsv", system_rows(pqs, seed), SYSTEM_FIELDS)
    diff = []
    if "student" in pqs:
        diff = difference_rows(pqs["student"]["nDCG@10"], pqs["student_zero_shot"]["nDCG@10"])
    write_tsv(folder / "difference.tsv", diff, DIFFERENCE_FIELDS)


def summary_lines(result: dict[str, object]) -> list[str]:
    """The means of each system of metrics/eval.json, one line each (what the stage prints)."""
    return [f"{name:26s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()) for name, m in result.items()
            if name not in ("evaluation", "hidden_judgments") and isinstance(m, dict)]  # fmt: skip
