"""Evaluation through ir-measures, plus a paired significance test between two systems."""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures
import numpy as np

from listdistill.io import Qrels, Run

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10", "R@20")


def _parse(measures: Sequence[str]) -> list[ir_measures.Measure]:
    try:
        return [ir_measures.parse_measure(m) for m in measures]
    except Exception as e:  # ir_measures raises several types for a bad name
        raise ValueError(f"unknown measure in {list(measures)}: {e}") from e


def per_query(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """``{measure: {query_id: value}}`` over every judged query; a query missing from the run scores 0."""
    parsed = _parse(measures)
    judged = [q for q, docs in qrels.items() if any(r > 0 for r in docs.values())]
    out: dict[str, dict[str, float]] = {str(m): dict.fromkeys(judged, 0.0) for m in parsed}
    for r in ir_measures.iter_calc(parsed, qrels, run):
        if r.query_id in out[str(r.measure)]:
            out[str(r.measure)][r.query_id] = float(r.value)
    return out


def aggregate(pq: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean over queries, rounded to 4 decimals for stable metric files."""
    return {m: round(float(np.mean(list(v.values()))) if v else 0.0, 4) for m, v in pq.items()}


def evaluate(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    return aggregate(per_query(qrels, run, measures))


def paired_randomization(a: dict[str, float], b: dict[str, float], trials: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of a paired randomization (sign-flip) test on per-query values of ``a`` vs ``b``."""
    qids = sorted(set(a) & set(b))
    if not qids:
        raise ValueError("no common queries to compare")
    diff = np.array([a[q] - b[q] for q in qids])  # (Q,)
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(trials, len(qids)))  # (trials, Q)
    extreme = np.sum(np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12)
    return float((extreme + 1) / (trials + 1))
