"""The cost curve: what each stage costs against corpus size, measured, and on paper beyond what was run.

Reads the per-stage cost records (``metrics/cost/``, written by every stage: CPU seconds, wall seconds, peak RSS)
of finished pipeline projects on corpora of different sizes (``bench/scale_corpus.py`` builds them; a
``bench/suite.py`` project per size runs them), and writes one table: CPU seconds and peak RSS per stage and
size, a least-squares line per stage (``cpu_s = a + b * passages``; RSS likewise), and what the lines say for
larger corpora on this machine: CPU hours, and the first stage whose peak RSS would pass this machine's memory.
A GPU column gives the corpus encoding on one GPU from the student's forward FLOPs at an assumed rate (named
below, not measured here); the rest of a stage (the Lucene build, BM25 and faiss search, the JVM) stays on the CPU.

    python bench/cost_curve.py --run 11429=runs/cost/vaswani/seed1 --run 30000=runs/cost/30k/seed1 \\
        --run 100000=runs/cost/100k/seed1 --extrapolate 300000,1000000,10000000 --out bench/results/cost_curve.md

Sizes are passages as the project's ``data/prepared/corpus.jsonl`` holds them (``--run`` names them, and the
script checks the count). Stages run once per type (``generate@questions``, ``mine@questions``, ...) are summed
per stage (their peak RSS is the largest); stages that do not depend on the corpus size (generate's cost is set by
``generate.passages_per_type``) show a flat line.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import psutil

STAGES = ("prepare", "index", "generate", "mine", "score", "proxy", "real", "mix", "train", "evaluate", "report")
GPU_FLOPS = 788e12 * 0.35  # bf16 matrix rate measured on an H200 (bench/paper_estimate.py) x assumed utilisation
MINILM_NONEMB = 6 * 12 * 384 * 384  # all-MiniLM-L6-v2: 6 layers of 12 d^2 weights (attention 4, feed-forward 8)
PASSAGE_TOKENS = 256  # student.passage_max_length: the encoding cost per passage at most


def stage_costs(project: Path) -> dict[str, dict[str, float]]:
    """Per stage: summed cpu_s and wall_s, largest peak_rss_mb, from ``<project>/metrics/cost``."""
    root = project / "metrics" / "cost"
    if not root.is_dir():
        raise click.ClickException(f"{root}: expected the stages' cost records (a finished pipeline project)")
    out: dict[str, dict[str, float]] = {}
    for path in sorted(root.rglob("*.json")):
        stage = path.relative_to(root).parts[0].removesuffix(".json")
        record = json.loads(path.read_text(encoding="utf-8"))
        acc = out.setdefault(stage, {"cpu_s": 0.0, "wall_s": 0.0, "peak_rss_mb": 0.0})
        acc["cpu_s"] += float(record["cpu_s"])
        acc["wall_s"] += float(record["wall_s"])
        acc["peak_rss_mb"] = max(acc["peak_rss_mb"], float(record["peak_rss_mb"]))
    return out


def corpus_size(project: Path) -> int:
    with (project / "data" / "prepared" / "corpus.jsonl").open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def line(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``value = a + b * size`` (slope 0 from a single size)."""
    if len(set(sizes)) < 2:
        return float(np.mean(values)), 0.0
    b, a = np.polyfit(np.asarray(sizes, float), np.asarray(values, float), 1)
    return float(a), float(b)


def gpu_encode_s(passages: int) -> float:
    return passages * 2 * MINILM_NONEMB * PASSAGE_TOKENS / GPU_FLOPS


def fmt_s(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def table(runs: list[tuple[int, dict[str, dict[str, float]]]], targets: list[int], memory_gb: float) -> str:
    sizes = [n for n, _ in runs]
    stages = [s for s in STAGES if any(s in c for _, c in runs)]
    head = " | ".join(f"{n:,} passages" for n in sizes)
    ahead = " | ".join(f"{n:,}: CPU" for n in targets)
    lines = [
        f"| stage | {head} | CPU s per 1k passages | {ahead} | RSS GB per 1M passages |",
        "|---|" + "---|" * (len(sizes) + 2 + len(targets)),
    ]
    totals = {n: 0.0 for n in targets}
    rss_at: dict[int, list[tuple[float, str]]] = {n: [] for n in targets}
    for stage in stages:
        cpu = [c.get(stage, {}).get("cpu_s", 0.0) for _, c in runs]
        rss = [c.get(stage, {}).get("peak_rss_mb", 0.0) / 1024 for _, c in runs]
        a, b = line(sizes, cpu)
        ra, rb = line(sizes, rss)
        cells = " | ".join(f"{x:.0f} s / {r:.1f} GB" for x, r in zip(cpu, rss, strict=True))
        projected: list[str] = []
        for n in targets:
            est = max(a + b * n, 0.0)
            totals[n] += est
            projected.append(fmt_s(est))
            rss_at[n].append((ra + rb * n, stage))
        lines.append(f"| {stage} | {cells} | {b * 1000:.2f} | " + " | ".join(projected) + f" | {rb * 1e6:.2f} |")
    measured = " | ".join(f"{sum(c[s]['cpu_s'] for s in c) / 60:.1f} CPU-min" for _, c in runs)
    lines.append(f"| **total** | {measured} | | " + " | ".join(f"**{fmt_s(totals[n])}**" for n in targets) + " | |")
    notes = ["", f"Extrapolated peak RSS (the largest stage; this machine has {memory_gb:.0f} GB):", ""]
    for n in targets:
        top, stage = max(rss_at[n])
        over = " (over this machine's memory)" if top > memory_gb else ""
        notes.append(f"- {n:,} passages: {top:.1f} GB in `{stage}`{over}")
    notes += ["", "Corpus encoding on one GPU (estimate: MiniLM forward FLOPs at 256 tokens, 788 TFLOP/s x 0.35):", ""]
    notes += [f"- {n:,} passages: {fmt_s(gpu_encode_s(n))}" for n in (*sizes, *targets)]
    return "\n".join(lines + notes) + "\n"


@click.command()
@click.option("--run", "runs", multiple=True, required=True, help="SIZE=PROJECT: a finished project on SIZE passages.")
@click.option("--extrapolate", default="300000,1000000,10000000", help="Comma-separated corpus sizes to project.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Writes OUT (markdown).")
def main(runs: tuple[str, ...], extrapolate: str, out: Path) -> None:
    parsed = []
    for item in runs:
        size, _, folder = item.partition("=")
        if not size.isdigit() or not folder:
            raise click.BadParameter(f"{item!r}: expected SIZE=PROJECT, e.g. 30000=runs/cost/30k/seed1")
        project = Path(folder)
        found = corpus_size(project)
        if found != int(size):
            raise click.BadParameter(f"{item!r}: {project}/data/prepared/corpus.jsonl holds {found} passages")
        parsed.append((int(size), stage_costs(project)))
    parsed.sort(key=lambda r: r[0])
    memory_gb = psutil.virtual_memory().total / 2**30
    text = table(parsed, [int(x) for x in extrapolate.split(",")], memory_gb)
    out.write_text(text, encoding="utf-8")
    click.echo(text)


if __name__ == "__main__":
    main()
