"""The results as pictures: the plot data ``evaluate`` writes for DVC, and the PNGs ``report`` draws from them.

* ``systems.tsv``: per system and measure, the mean over the test queries and its 95% confidence interval
  (percentile bootstrap over queries, seeded; :func:`system_rows`); DVC draws it with the ``ci_bars`` template
  (``.dvc/plots/ci_bars.json``: bars with error bars), ``report`` as ``systems.png``.
* ``difference.tsv``: the per-query nDCG@10 of the fine-tuned student minus the zero-shot one, sorted from the
  largest gain to the largest loss (:func:`difference_rows`); ``difference.png``.
* the learning curves (``train``'s ``train_curve.tsv`` and ``train_dev.tsv``): ``learning_curves.png``.

Rows are written with 4 decimals; the bootstrap and the drawings are deterministic (seeded, no timestamps in the
PNGs' metadata).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from listdistill.records import natural_key

SYSTEM_FIELDS = ("system", "measure", "mean", "ci_low", "ci_high", "queries")
DIFFERENCE_FIELDS = ("rank", "query_id", "difference")
BOOTSTRAP = 2000
PLOTTED = ("nDCG@10", "R@100")  # the measures drawn as bars
PNG_META = {"Software": None}  # no version stamp: the same data draw the same bytes


def bootstrap_ci(values: Sequence[float], seed: int, resamples: int = BOOTSTRAP) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values`` (resampling queries, seeded)."""
    x = np.asarray(values, dtype=np.float64)  # (Q,)
    if x.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))  # (R, Q)
    boot = x[idx].mean(axis=1)  # (R,)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(low), float(high)


def system_rows(pqs: Mapping[str, Mapping[str, Mapping[str, float]]], seed: int,
                measures: Sequence[str] = PLOTTED) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (system, measure) of ``pqs`` (system -> measure -> query -> value) for the measures given."""
    rows = []
    for system, pq in pqs.items():
        for m in measures:
            if m not in pq:
                continue
            values = [pq[m][q] for q in sorted(pq[m], key=natural_key)]
            low, high = bootstrap_ci(values, seed)
            mean = float(np.mean(values)) if values else 0.0
            rows.append({"system": system, "measure": m, "mean": f"{mean:.4f}", "ci_low": f"{low:.4f}",
                         "ci_high": f"{high:.4f}", "queries": len(values)})  # fmt: skip
    return rows


def difference_rows(student: Mapping[str, float], zero_shot: Mapping[str, float]) -> list[dict[str, Any]]:
    """Per-query ``student - zero_shot``, largest first (ties by query id)."""
    diffs = sorted(((student[q] - zero_shot[q], q) for q in student if q in zero_shot), key=lambda t: (-t[0],
                   natural_key(t[1])))  # fmt: skip
    return [{"rank": i, "query_id": q, "difference": f"{d:.4f}"} for i, (d, q) in enumerate(diffs, start=1)]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# -- PNGs (report) --------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "listdistill", "font.size": 9})
    return plt


def draw_systems(rows: Sequence[Mapping[str, str]], title: str, path: Path) -> None:
    """Bars of each system's mean per measure, with the 95% bootstrap interval as error bars."""
    plt = _pyplot()
    measures = list(dict.fromkeys(r["measure"] for r in rows))
    fig, axes = plt.subplots(1, max(1, len(measures)), figsize=(4.2 * max(1, len(measures)), 3.4), squeeze=False)
    for ax, m in zip(axes[0], measures, strict=False):
        sub = [r for r in rows if r["measure"] == m]
        mean = np.array([float(r["mean"]) for r in sub])
        err = np.array([[mean[i] - float(r["ci_low"]), float(r["ci_high"]) - mean[i]] for i, r in enumerate(sub)])
        colors = ["#d95f02" if r["system"] == "student" else "#7570b3" for r in sub]
        ax.barh([r["system"] for r in sub], mean, xerr=err.T if len(sub) else None, color=colors, capsize=3)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(m)
        for y, v in enumerate(mean):  # inside the bar, clear of the interval
            ax.text(0.02, y, f"{v:.3f}", va="center", color="white", fontweight="bold")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_META)
    plt.close(fig)


def draw_difference(rows: Sequence[Mapping[str, str]], title: str, path: Path) -> None:
    """The per-query difference student - zero-shot, sorted, as bars (gains green, losses red)."""
    plt = _pyplot()
    diffs = [float(r["difference"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = ["#1b9e77" if d > 0 else "#d95f02" if d < 0 else "#999999" for d in diffs]
    ax.bar(range(1, len(diffs) + 1), diffs, color=colors, width=1.0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("test queries, sorted")
    ax.set_ylabel("nDCG@10 student - zero-shot")
    gains, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    ax.set_title(f"{title}: {gains} queries gain, {losses} lose, {len(diffs) - gains - losses} tie")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_META)
    plt.close(fig)


def draw_curves(curve: Sequence[Mapping[str, str]], dev: Sequence[Mapping[str, str]], path: Path) -> None:
    """Training loss by step and dev loss by epoch."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    if curve:
        left.plot([int(r["step"]) for r in curve], [float(r["loss"]) for r in curve], color="#7570b3")
    left.set_xlabel("step")
    left.set_ylabel("training loss")
    if dev:
        right.plot([int(r["epoch"]) for r in dev], [float(r["dev_loss"]) for r in dev], marker="o", color="#d95f02")
    right.set_xlabel("epoch (0: zero-shot)")
    right.set_ylabel("dev loss")
    fig.suptitle("Learning curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_META)
    plt.close(fig)
