"""The suite: the pipeline (``dvc repro`` of this repository's dvc.yaml) on several collections and seeds, and one
table of what it gained.

Each (collection, seed) is a DVC project of its own under ``<out>/<collection>/seed<k>/``: a snapshot of this
repository's ``dvc.yaml``, ``stages/`` and ``src/``, and a ``params.yaml`` that is this repository's with
``dataset.name``, ``seed`` and every ``--set`` applied. All of them share one DVC cache (``--cache``), so DVC's
run cache restores every stage whose command, inputs and params another run already produced: the index of a
collection is built once for all seeds (it does not read ``seed``), and a study row that changes only
``loss`` reruns only ``train`` and ``evaluate``. Passage embeddings of the teacher's encoders are cached per
collection (``<cache>/embeddings/<collection>``), and converted models in the model cache
(``LISTDISTILL_MODEL_CACHE``, default this repository's ``.cache/models``).

The table (``<out>/suite.md`` and ``suite.json``) has, per collection: test queries, generation pool share, BM25,
zero-shot student, the teacher reranking the fused top L (the ceiling), the fine-tuned student's nDCG@10 as mean
± sd over seeds, its difference to zero-shot, the paired randomization p of each seed and of the per-query mean
over seeds, and the CPU minutes of one seed's pipeline (the mean over seeds of the sum of the stages' costs, so
work a run restored from the run cache counts at the price it was first paid), and a last row with the mean over
collections. Collections are names the ``dataset.name`` param takes (``cranfield``, ``vaswani``, ``beir/<name>``,
a folder) or the name of a folder under the data mirror (``med``, ``lisa``, ``scifact``, ``adi``).

    python bench/suite.py --out runs/suite/default --collections vaswani,med,lisa --seeds 1,2,3 --jobs 2
    python bench/suite.py --out runs/suite/infonce --collections vaswani,med,lisa --seeds 1,2,3 --jobs 2 \\
        --set loss=infonce

``--jobs N`` runs N projects at once with ``OMP_NUM_THREADS`` = cores / N each (seed by seed, so that the first
seed of every collection fills the run cache before the others start).

A study row that changes only later stages can start from an earlier suite's finished projects instead of
rerunning them: ``--from runs/suite/default --rerun train`` copies each project's outputs (hard links) and runs
``dvc repro --downstream train`` there with the new params and code, leaving every upstream output as it was
(DVC would otherwise rerun every stage whose code changed since). ``--rerun score`` re-scores, and so on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from listdistill.config import apply_override
from listdistill.evaluate.metrics import paired_randomization

ROOT = Path(__file__).resolve().parents[1]
MEASURE = "nDCG@10"
SYSTEMS = {"bm25": "bm25", "zero_shot": "student_zero_shot", "teacher": "teacher", "student": "student"}
COPIED = ("dvc.yaml", "stages", "src", ".dvcignore")


@dataclass(frozen=True)
class Run:
    collection: str  # as given
    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.collection_key}/seed{self.seed}"

    @property
    def collection_key(self) -> str:
        return collection_key(self.collection)


def collection_key(collection: str) -> str:
    return Path(collection.rstrip("/")).name.replace("beir/", "")


def dataset_name(collection: str, mirror: Path) -> str:
    """The ``dataset.name`` value: built-in names and paths as they are, a bare folder name of the mirror as a path."""
    if collection in ("cranfield", "vaswani") or collection.startswith("beir/") or "/" in collection:
        return str(Path(collection).resolve()) if Path(collection).exists() else collection
    if (mirror / collection).is_dir():
        return str((mirror / collection).resolve())
    raise click.BadParameter(f"{collection!r}: not cranfield, vaswani, beir/<name>, a folder, or a folder of {mirror}")


def run_params(base: dict[str, Any], collection: str, seed: int, overrides: Sequence[str], mirror: Path) -> dict:
    params = json.loads(json.dumps(base))  # a deep copy
    problems: list[str] = []
    for item in (*overrides, f"dataset.name={dataset_name(collection, mirror)}", f"seed={seed}"):
        apply_override(params, item, problems)
    if problems:
        raise click.BadParameter("; ".join(problems))
    params.setdefault("dataset", {})["mirror"] = str(mirror.resolve())
    return params


def prepare_project(run: Run, params: dict[str, Any], cache: Path, code: Path = ROOT) -> None:
    """Write (or refresh) the run's DVC project: code snapshot, params, shared cache, embedding cache link."""
    folder = run.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source, dest = code / name, folder / name
        if source.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, dest)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    if not (folder / ".dvc").is_dir():
        dvc(folder, "init", "--no-scm", "-q")
    dvc(folder, "config", "--local", "cache.dir", str(cache.resolve()))
    dvc(folder, "config", "--local", "core.analytics", "false")
    embeddings = cache.resolve() / "embeddings" / run.collection_key
    embeddings.mkdir(parents=True, exist_ok=True)
    link = folder / ".cache" / "embeddings"
    link.parent.mkdir(exist_ok=True)
    if not link.is_symlink():
        shutil.rmtree(link, ignore_errors=True)
        link.symlink_to(embeddings, target_is_directory=True)


def dvc(folder: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None) -> None:
    cmd = [sys.executable, "-m", "dvc", *args]
    if log is None:
        subprocess.run(cmd, cwd=folder, check=True, env=env, capture_output=True)
        return
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n$ dvc {' '.join(args)}  # {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        done = subprocess.run(cmd, cwd=folder, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{folder}: dvc {' '.join(args)} failed (exit {done.returncode}); see {log}")


def copy_outputs(source: Path, dest: Path) -> None:
    """The finished project ``source`` (its data, models, metrics, lock and caches) into ``dest``, hard-linked."""
    for name in ("data", "models", "metrics", "dvc.lock"):
        src, dst = source / name, dest / name
        if not src.exists():
            continue
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=os.link)
        else:
            os.link(src, dst)


def repro_env(run: Run, threads: int) -> dict[str, str]:
    """The environment of a project's ``dvc repro``: its own code snapshot first on the path (absolute, since the
    stages run inside the folder: a relative path would find nothing there and fall back to an installed copy)."""
    folder = run.folder.resolve()
    return {
        **os.environ,
        "PYTHONPATH": str(folder / "src"),
        "OMP_NUM_THREADS": str(threads),
        "DVC_NO_ANALYTICS": "1",
        "LISTDISTILL_MODEL_CACHE": os.environ.get("LISTDISTILL_MODEL_CACHE", str(ROOT / ".cache" / "models")),
        "DVC_SITE_CACHE_DIR": str(folder / ".dvc" / "site-cache"),
    }


def repro(run: Run, threads: int, rerun: str = "") -> Run:
    env = repro_env(run, threads)
    targets = ("--downstream", rerun) if rerun else ()
    dvc(run.folder, "repro", *targets, env=env, log=run.folder / "repro.log")
    return run


# -- the table --------------------------------------------------------------------------------------------------
def per_query(folder: Path, system: str, measure: str = MEASURE) -> dict[str, float]:
    out: dict[str, float] = {}
    with (folder / "data" / "eval" / "perquery.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            name, m, qid, value = line.rstrip("\n").split("\t")
            if name == system and m == measure:
                out[qid] = float(value)
    return out


def cpu_minutes(folder: Path) -> float:
    return sum(json.loads(p.read_text())["cpu_s"] for p in (folder / "metrics" / "cost").rglob("*.json")) / 60


STAGE_ORDER = ("prepare", "index", "generate", "mine", "score", "real", "mix", "train", "evaluate")


def stage_costs(folder: Path) -> dict[str, dict[str, float]]:
    """Per stage (the foreach stages summed over their types): CPU s, wall s, peak RSS MB (max over types)."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted((folder / "metrics" / "cost").rglob("*.json")):
        stage = path.relative_to(folder / "metrics" / "cost").parts[0].removesuffix(".json")
        cost = json.loads(path.read_text())
        row = out.setdefault(stage, {"cpu_s": 0.0, "wall_s": 0.0, "peak_rss_mb": 0.0})
        row["cpu_s"] += cost["cpu_s"]
        row["wall_s"] += cost["wall_s"]
        row["peak_rss_mb"] = max(row["peak_rss_mb"], cost["peak_rss_mb"])
    return {s: out[s] for s in STAGE_ORDER if s in out}


def cost_markdown(by_collection: dict[str, list[Run]]) -> str:
    """Per collection and stage: CPU seconds, wall seconds, peak RSS (the first seed's project)."""
    lines = ["| collection | " + " | ".join(STAGE_ORDER) + " | total |", "|---|" + "---|" * (len(STAGE_ORDER) + 1)]
    for name, runs in by_collection.items():
        costs = stage_costs(runs[0].folder)
        cells = [
            f"{c['cpu_s']:.0f} / {c['wall_s']:.0f} / {c['peak_rss_mb'] / 1024:.1f}" if (c := costs.get(s)) else ""
            for s in STAGE_ORDER
        ]
        cpu, wall = sum(c["cpu_s"] for c in costs.values()), sum(c["wall_s"] for c in costs.values())
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {cpu / 60:.1f} / {wall / 60:.1f} min |")
    note = "Cells: CPU s / wall s / peak RSS GB of the first seed's run (foreach stages summed)."
    return "\n".join(lines) + f"\n\n{note}\n"


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def collection_row(runs: Sequence[Run]) -> dict[str, Any]:
    """One collection's figures over its seeds (see the module docstring)."""
    first = runs[0].folder
    metrics = [read_json(r.folder / "metrics" / "eval.json") for r in runs]
    prepare = read_json(first / "metrics" / "prepare.json")
    students = [m["student"][MEASURE] for m in metrics]
    zero = per_query(first, SYSTEMS["zero_shot"])
    tuned = [per_query(r.folder, SYSTEMS["student"]) for r in runs]
    mean_tuned = {q: statistics.fmean(t[q] for t in tuned) for q in zero}
    row = {
        "collection": runs[0].collection_key,
        "queries": len(zero),
        "pool_share": round(prepare["pool"] / prepare["docs"], 3),
        "bm25": metrics[0]["bm25"][MEASURE],
        "zero_shot": metrics[0][SYSTEMS["zero_shot"]][MEASURE],
        "teacher": metrics[0].get("teacher", {}).get(MEASURE),
        "student_mean": round(statistics.fmean(students), 4),
        "student_sd": round(statistics.stdev(students), 4) if len(students) > 1 else 0.0,
        "students": students,
        "p_per_seed": [m["student_vs_zero_shot_p"][MEASURE] for m in metrics],
        "p_mean": round(paired_randomization(mean_tuned, zero), 4),
        "cpu_min": round(statistics.fmean(cpu_minutes(r.folder) for r in runs), 1),
        "seeds": [r.seed for r in runs],
    }
    row["gain"] = round(row["student_mean"] - row["zero_shot"], 4)
    row["worst_seed_gain"] = round(min(students) - row["zero_shot"], 4)
    return row


def mean_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keys = ("bm25", "zero_shot", "teacher", "student_mean", "gain", "cpu_min")
    out: dict[str, Any] = {"collection": "mean"}
    for k in keys:
        values = [r[k] for r in rows if r.get(k) is not None]
        out[k] = round(statistics.fmean(values), 4) if values else None
    out["worst_gain"] = min(r["gain"] for r in rows)
    return out


def fmt(x: float | None, digits: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def markdown(rows: Sequence[dict[str, Any]], total: dict[str, Any], title: str) -> str:
    head = (
        "| collection | queries | pool share | BM25 | zero-shot | teacher | student (mean ± sd) | gain | worst seed "
        "| p per seed | p (mean) | CPU min |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [f"### {title}\n\n", head]
    for r in rows:
        lines.append(
            f"| {r['collection']} | {r['queries']} | {r['pool_share']:.2f} | {fmt(r['bm25'])} | {fmt(r['zero_shot'])} "
            f"| {fmt(r['teacher'])} | {fmt(r['student_mean'])} ± {fmt(r['student_sd'])} | {r['gain'] * 100:+.1f} "
            f"| {r['worst_seed_gain'] * 100:+.1f} | {', '.join(fmt(p, 3) for p in r['p_per_seed'])} "
            f"| {fmt(r['p_mean'], 3)} | {r['cpu_min']:.1f} |\n"
        )
    lines.append(
        f"| **mean** | | | {fmt(total['bm25'])} | {fmt(total['zero_shot'])} | {fmt(total['teacher'])} "
        f"| {fmt(total['student_mean'])} | **{total['gain'] * 100:+.1f}** | (worst collection "
        f"{total['worst_gain'] * 100:+.1f}) | | | {total['cpu_min']:.1f} |\n"
    )
    return "".join(lines)


def plan(collections: Iterable[str], seeds: Sequence[int], out: Path) -> list[Run]:
    """Seed-major order: every collection's first seed before any second one."""
    return [Run(c, s, out / collection_key(c) / f"seed{s}") for s in seeds for c in collections]


@click.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--collections", default="vaswani,med,lisa", help="Comma-separated (the dev suite by default).")
@click.option("--seeds", default="1,2,3", help="Comma-separated seeds.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="A param for every run (repeat).")
@click.option("--params", "params_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The params every run starts from (default: params.yaml of --code, else of this tree).")  # fmt: skip
@click.option("--code", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Take dvc.yaml, stages/ and src/ from this folder (a checkout of one commit), not this tree, so "
              "that rows run at different times share one code base and so DVC's run cache.")  # fmt: skip
@click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Shared DVC cache (default: <out>/../.dvc-cache, shared by the study rows beside it).")  # fmt: skip
@click.option("--jobs", type=click.IntRange(min=1), default=1, help="Projects run at once.")
@click.option("--threads", type=click.IntRange(min=0), default=0, help="OMP_NUM_THREADS per project (0: cores / jobs).")
@click.option("--title", default=None, help="The table's title (default: the --set values, or 'default').")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="An earlier suite's --out whose finished projects this row starts from (see --rerun).",
)
@click.option("--rerun", default="", help="With --from: the first stage to rerun (dvc repro --downstream STAGE).")
@click.option("--table-only", is_flag=True, help="Only rebuild the table from finished runs.")
def main(
    out: Path,
    collections: str,
    seeds: str,
    overrides: tuple[str, ...],
    params_path: Path | None,
    code: Path | None,
    cache: Path | None,
    jobs: int,
    threads: int,
    title: str | None,
    source: Path | None,
    rerun: str,
    table_only: bool,
) -> None:
    names = [c.strip() for c in collections.split(",") if c.strip()]
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    cache = cache or out.parent / ".dvc-cache"
    params_path = params_path or (code or ROOT) / "params.yaml"  # the snapshot's code reads the snapshot's keys
    base = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    mirror = Path(os.environ.get("LISTDISTILL_DATA_MIRROR", (ROOT / base.get("dataset", {}).get("mirror", "."))))
    runs = plan(names, seed_list, out)
    if not table_only:
        if bool(source) != bool(rerun):
            raise click.UsageError("--from and --rerun go together")
        for run in runs:
            prepare_project(run, run_params(base, run.collection, run.seed, overrides, mirror), cache, code or ROOT)
            if source is not None:
                copy_outputs(source / run.collection_key / f"seed{run.seed}", run.folder)
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
        started = time.monotonic()
        for seed in seed_list:  # a wave per seed: later seeds find the first one's stages in the run cache
            wave = [r for r in runs if r.seed == seed]
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for done in pool.map(lambda r: repro(r, threads, rerun), wave):
                    click.echo(f"{done.name}: done ({(time.monotonic() - started) / 60:.1f} min)", err=True)
    by_collection: dict[str, list[Run]] = {}
    for run in runs:
        by_collection.setdefault(run.collection_key, []).append(run)
    rows = [collection_row(rs) for rs in by_collection.values()]
    total = mean_row(rows)
    heading = title or (", ".join(overrides) if overrides else "default")
    table = markdown(rows, total, heading)
    (out / "suite.md").write_text(table, encoding="utf-8")
    (out / "costs.md").write_text(cost_markdown(by_collection), encoding="utf-8")
    (out / "suite.json").write_text(
        json.dumps({"title": heading, "overrides": list(overrides), "rows": rows, "mean": total}, indent=2) + "\n"
    )
    click.echo(table)


if __name__ == "__main__":
    main()
