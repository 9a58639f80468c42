"""The measures of each system's run on the test queries: per query and mean, paired significance, the TREC files
(the runs themselves come from :mod:`listdistill.index.runs` and :func:`listdistill.mine.fusion.hybrid_run`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from listdistill.evaluate.metrics import DEFAULT_MEASURES, aggregate, paired_randomization, per_query
from listdistill.io import Qrels, Run, atomic_open
from listdistill.records import natural_key, write_run


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
