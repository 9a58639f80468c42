"""Benchmark: passages/second of the generate stage's code against a plain ``model.generate`` loop.

All methods run on the same prompts (same few-shot draws, same truncated passages), in one process, with the
same model, the same stopping rule (end of turn or end of the first line) and the same ``max_new_tokens``:

* ``plain``: one ``model.generate`` call per prompt, whole prompt prefilled each time;
* ``batched``: the stage's batching (length-sorted, padded) without prefix reuse;
* ``stage``: the stage's code as it runs (batching + each few-shot prefix's KV cache computed once).

Greedy decoding by default, so every method does the same work and the outputs can be compared (``agree``:
share of outputs identical to the plain loop's). Wall-clock and CPU seconds are both reported: on a machine
shared with other jobs the wall clock of one method can drift from the others', CPU time (with ``--threads 1``)
much less. Example::

    nice -n 10 python bench/bench_generate.py --pool data/prepared/pool.jsonl --passages 60 --threads 1
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import torch

from listdistill.generate import (
    DEFAULT_MODEL,
    Checkpoint,
    GenerateConfig,
    generate_completions,
    read_pool,
    select_passages,
)
from listdistill.generate.backends import TransformersBackend, first_line_stop
from listdistill.generate.catalog import load_type
from listdistill.generate.prompts import Prompt, PromptBuilder


def plain_loop(backend: TransformersBackend, prompts: list[Prompt], config: GenerateConfig) -> list[str]:
    """The baseline: ``model.generate`` on each whole prompt, one at a time."""
    tok, texts = backend.tokenizer, []
    sample = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if config.temperature > 0:
        sample = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p, "top_k": 0}
    for i, p in enumerate(prompts):
        ids = torch.tensor([p.input_ids])  # (1, T)
        torch.manual_seed(config.seed + i)
        with torch.inference_mode():
            out = backend.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=config.max_new_tokens,
                eos_token_id=backend.eos_ids,
                pad_token_id=tok.pad_token_id,
                stopping_criteria=first_line_stop(tok, ids.shape[1]),
                **sample,
            )
        texts.append(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    return texts


def stage_run(backend: TransformersBackend, prompts: list[Prompt], config: GenerateConfig, reuse: bool) -> list[str]:
    backend.prefix_cache = reuse
    backend._prefix_kv.clear()  # count every prefix prefill in the timing
    done = generate_completions(config, backend, prompts, Checkpoint(None), progress=False)
    return [done[p.doc_id].text for p in prompts]


@click.command(context_settings={"show_default": True})
@click.option("--pool", type=click.Path(path_type=Path, exists=True), default=Path("data/prepared/pool.jsonl"))
@click.option("--query-type", default="questions")
@click.option("--model", default=DEFAULT_MODEL)
@click.option("--passages", type=int, default=60)
@click.option("--batch-size", type=int, default=32)
@click.option("--num-examples", type=int, default=2)
@click.option("--passage-max-tokens", type=int, default=128)
@click.option("--max-new-tokens", type=int, default=32)
@click.option("--temperature", type=float, default=0.0, help="0: greedy (outputs comparable across methods).")
@click.option("--threads", type=int, default=0, help="torch threads (0: torch's default).")
@click.option("--seed", type=int, default=42)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the figures as JSON.")
def main(
    pool: Path,
    query_type: str,
    model: str,
    passages: int,
    batch_size: int,
    num_examples: int,
    passage_max_tokens: int,
    max_new_tokens: int,
    temperature: float,
    threads: int,
    seed: int,
    out: Path | None,
) -> None:
    if threads:
        torch.set_num_threads(threads)
    config = GenerateConfig(
        query_type,
        model=model,
        device="cpu",
        passages=passages,
        num_examples=num_examples,
        passage_max_tokens=passage_max_tokens,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        seed=seed,
    )
    backend = TransformersBackend(model, device="cpu")
    docs = select_passages(read_pool(pool), passages, seed)
    builder = PromptBuilder(backend.tokenizer, load_type(query_type), num_examples, passage_max_tokens, seed)
    prompts = [builder.build(d) for d in docs]
    plain_loop(backend, prompts[:1], config)  # warm-up (first-call allocations)

    results: dict[str, dict[str, float]] = {}
    outputs: dict[str, list[str]] = {}
    for name, run in (
        ("plain", lambda: plain_loop(backend, prompts, config)),
        ("batched", lambda: stage_run(backend, prompts, config, reuse=False)),
        ("stage", lambda: stage_run(backend, prompts, config, reuse=True)),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        outputs[name] = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results[name] = {
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "passages_per_s": round(len(prompts) / wall, 4),
            "passages_per_cpu_s": round(len(prompts) / cpu, 4),
        }
    base = results["plain"]
    prefix_len = sum(len(p.prefix_ids) for p in prompts) / len(prompts)
    suffix_len = sum(len(p.suffix_ids) for p in prompts) / len(prompts)
    print(
        f"{len(prompts)} passages of {pool}, type {query_type}, batch {batch_size}, threads "
        f"{torch.get_num_threads()}, mean prompt {prefix_len:.0f} prefix + {suffix_len:.0f} passage tokens, "
        f"{len({p.prefix_ids for p in prompts})} distinct prefixes, temperature {temperature}"
    )
    print(f"{'method':8} {'wall s':>7} {'cpu s':>7} {'passages/s':>10} {'speed-up':>8} {'(cpu)':>6} {'agree':>6}")
    for name, r in results.items():
        r["speedup"] = round(base["seconds"] / r["seconds"], 3)
        r["speedup_cpu"] = round(base["cpu_seconds"] / r["cpu_seconds"], 3)
        r["agree"] = round(sum(a == b for a, b in zip(outputs[name], outputs["plain"], strict=True)) / len(prompts), 3)
        print(
            f"{name:8} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f} {r['passages_per_s']:10.3f} "
            f"{r['speedup']:7.2f}x {r['speedup_cpu']:5.2f}x {r['agree']:6.2f}"
        )
    if out is not None:
        out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
