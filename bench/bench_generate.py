"""Benchmark: passages/second and quality of the generation backends against a plain ``model.generate`` loop.

All methods run on the same prompts (same few-shot draws, same truncated passages), in one process, with the
same model, the same stopping rule (end of turn or end of the first line) and the same ``max_new_tokens``:

* ``plain``: one ``model.generate`` call per prompt, whole prompt prefilled each time (transformers, float32);
* ``batched``: the stage's batching (length-sorted, padded) without prefix reuse (transformers backend);
* ``stage``: the transformers backend as the stage runs it (batching + each few-shot prefix's KV cache reused);
* ``ctranslate2``: the ctranslate2 backend as the stage runs it (int8 weights, each batch split into groups that
  share a few-shot prefix, each prefix's state cached by CTranslate2 as a static prompt);
* ``ct2-whole``: the ctranslate2 backend with each batch in one call and whole prompts (no prefix reuse);
* ``ct2-k<N>`` (e.g. ``ct2-k4``): the ctranslate2 backend as the stage runs it with ``samples_per_passage=N``:
  N independent samples per passage from one prefill of its prompt (needs ``--temperature`` > 0);
  ``ct2-k<N>-top<K>``: the same, sampling from the K most likely tokens before top-p (``top_k=K``);
  ``...-b<B>`` (e.g. ``ct2-k4-b64``, ``ct2-k4-top50-b64``): with batch size B instead of ``--batch-size``;
  ``...-q<Q>`` (ctranslate2): the model converted with quantization Q (e.g. ``-qfloat32``: no int8 at all);
  ``...-c<C>`` (ctranslate2): run with compute type C (e.g. ``-cfloat32`` on the int8 weights: dequantised
  weights, float32 activations and GEMM); ``...-t<T>``: sampled at temperature T instead of ``--temperature``;
* ``stage-k<N>`` (with the same ``-top<K>``, ``-b<B>``, ``-t<T>`` suffixes): the transformers backend as the stage
  runs it with ``samples_per_passage=N`` (``stage-k1`` is ``stage``), for quality figures from more samples.

Greedy decoding by default, so every method does the same work and the outputs can be compared (``agree``:
share of outputs identical to the plain loop's; int8 weights change a few). Wall-clock and CPU seconds are
both reported: on a machine shared with other jobs the wall clock of one method can drift from the others', CPU
time (with ``--threads 1``) much less. Model loading (and the one-off CTranslate2 conversion) is not timed.

Quality, per method: ``kept`` is the share of outputs the stage's own cleaning keeps (its drop rules, the pool's
vocabulary; with several samples per passage, of all samples, repeats dropped as ``duplicate``); ``q/pass`` is
kept queries per passage and ``cover`` the share of passages with at least one kept query; ``kept/cpu-s`` is
kept queries per CPU-second; with ``--prepared`` and ``--index`` (the prepare
and index stages' outputs) ``round-trip`` is the share of kept queries whose source passage is in the top 20 of
the fused BM25 + zero-shot-student list (``mine``'s default filter), and ``rt/cpu-s`` those per CPU-second;
unless ``--no-teacher``, ``teacher1`` is the share of kept queries whose source the default teacher ranks first
among their mined candidates (``score``'s consistency filter), ``scored`` the share ``score`` keeps with its
defaults, and ``sc/cpu-s`` those per CPU-second.
Example::

    nice -n 10 python bench/bench_generate.py --pool data/prepared/pool.jsonl --passages 60 --threads 1 \\
        --prepared data/prepared --index data/index
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import torch

from listdistill.config import Params
from listdistill.generate import (
    Checkpoint,
    GenerateConfig,
    clean_all,
    generate_completions,
    read_pool,
    select_passages,
    summarise,
)
from listdistill.generate.backends import Completion, CTranslate2Backend, TransformersBackend
from listdistill.generate.backends.common import _first_line_done
from listdistill.generate.backends.hf import first_line_stop
from listdistill.generate.catalog import load_type
from listdistill.generate.clean import CleanConfig, vocabulary
from listdistill.generate.prompts import Prompt, PromptBuilder

METHODS = ("plain", "batched", "stage", "ctranslate2", "ct2-whole", "ct2-k<N>", "stage-k<N>")
SAMPLED = re.compile(
    r"(ct2|stage)-k(\d+)(?:-top(\d+))?(?:-b(\d+))?(?:-q([a-z0-9_]+))?(?:-c([a-z0-9_]+))?(?:-t([0-9.]+))?$"
)


def ct2_sampling_temperature(config: GenerateConfig, ct2_temperature: float) -> float:
    """``--ct2-temperature`` for a ctranslate2 method: in place of the config's temperature when both are above 0
    (greedy stays greedy; 0: the config's own)."""
    return ct2_temperature if ct2_temperature > 0 and config.temperature > 0 else config.temperature


B = TypeVar("B")


def need(backend: B | None, name: str) -> B:
    """The backend a method runs on, or a usage error when it was not loaded."""
    if backend is None:
        raise click.UsageError(f"a chosen method needs the {name} backend, which was not loaded")
    return backend


def plain_loop(backend: TransformersBackend | None, prompts: list[Prompt], config: GenerateConfig) -> list[Completion]:
    """The baseline: ``model.generate`` on each whole prompt, one at a time."""
    backend = need(backend, "transformers")
    tok, texts = backend.tokenizer, []
    sample: dict[str, bool | float | int | None] = {
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
    }
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
        new = out[0, ids.shape[1] :].tolist()
        text = tok.decode(new, skip_special_tokens=True)
        texts.append(Completion(text, any(i in backend.eos_ids for i in new) or _first_line_done(text)))
    return texts


def stage_run(
    backend: TransformersBackend | None, prompts: list[Prompt], config: GenerateConfig, reuse: bool
) -> list[list[Completion]]:
    backend = need(backend, "transformers")
    backend.prefix_cache = reuse
    backend._prefix_kv.clear()  # count every prefix prefill in the timing
    done = generate_completions(config, backend, prompts, Checkpoint(None), progress=False)
    return [done[p.doc_id] for p in prompts]


def ct2_run(
    backend: CTranslate2Backend | None, prompts: list[Prompt], config: GenerateConfig, groups: bool
) -> list[list[Completion]]:
    backend = need(backend, "ctranslate2")
    backend.prefix_groups = groups
    done = generate_completions(config, backend, prompts, Checkpoint(None), progress=False)
    return [done[p.doc_id] for p in prompts]


def kept_queries(
    query_type: str, prompts: list[Prompt], outputs: list[list[Completion]], domain: set[str], max_copy_run: int
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The stage's cleaning of one method's outputs (each prompt's samples): kept rows and the summary (keep
    rate, drop reasons)."""
    qtype = load_type(query_type)
    completions = {p.doc_id: c for p, c in zip(prompts, outputs, strict=True)}
    rows = clean_all(qtype, prompts, completions, CleanConfig(max_copy_run=max_copy_run), domain)
    return [r for r in rows if r["status"] == "kept"], summarise(qtype, rows)


def round_trip(
    kept: dict[str, list[dict[str, str]]], prepared: Path, index_dir: Path, teacher: bool
) -> dict[str, dict[str, float]]:
    """Per method, ``round_trip``: the share of its kept queries that ``mine`` keeps (defaults: BM25 + zero-shot
    student, RRF, source in the fused top 20), all methods' queries retrieved in one go. With ``teacher``, the
    default teacher (the params' defaults: 0.5 BM25 + 0.5 student, z-scored) scores each method's mined lists as
    ``score`` does: ``teacher_first`` is the share of its kept queries whose source the teacher
    ranks first (the consistency filter), ``score_kept`` the share that ``score`` keeps (consistency and the
    top-score percentile filter, which is relative to the method's own queries)."""
    from listdistill.index.runs import IndexPaths
    from listdistill.mine.candidates import build_retrievers, excluded_docs, mine, retrieve
    from listdistill.records import GeneratedQuery, read_duplicates, read_qrels

    index = IndexPaths(index_dir)
    doc_ids = index.doc_ids
    excluded = excluded_docs(read_qrels(prepared / "qrels.txt"), read_duplicates(prepared / "duplicates.jsonl"))
    p = Params()  # the pipeline's defaults: mining and scoring as the stages do
    retrievers = build_retrievers(
        p.mine.retrievers, index.lucene, index.embeddings, doc_ids, p.to_encoder(), p.bm25.k1, p.bm25.b
    )
    queries = {
        name: [GeneratedQuery(f"{name}:{r['query_id']}", r["text"], "q", r["source_doc_id"]) for r in rows]
        for name, rows in kept.items()
    }
    config = p.to_mine()
    runs = retrieve(retrievers, [q for qs in queries.values() for q in qs], config.k, excluded, len(doc_ids))
    scorer = None
    if teacher:
        from listdistill.records import read_docs
        from listdistill.score.lists import score_queries
        from listdistill.teachers import TeacherResources, build_teacher

        resources = TeacherResources(index.lucene, index.embeddings, doc_ids, p.to_encoder(), p.bm25.k1, p.bm25.b)
        model = build_teacher(p.to_teacher(), resources)
        docs = {d.doc_id: d for d in read_docs(prepared / "corpus.jsonl")}
        scorer = (model, docs, p.to_score(), score_queries)
    out: dict[str, dict[str, float]] = {}
    for name, qs in queries.items():
        result = mine(qs, {r: {q.query_id: run.get(q.query_id, {}) for q in qs} for r, run in runs.items()}, config)
        out[name] = {"round_trip": len(result.candidates) / len(qs) if qs else 0.0}
        if scorer is not None and result.candidates:
            model, docs, score_config, score_queries = scorer
            scored = score_queries(result.candidates, model, docs, score_config)
            out[name]["teacher_first"] = (len(result.candidates) - cast(int, scored.stats["inconsistent"])) / len(qs)
            out[name]["score_kept"] = (len(scored.train) + len(scored.dev)) / len(qs)
    return out


@click.command(context_settings={"show_default": True})
@click.option("--pool", type=click.Path(path_type=Path, exists=True), default=Path("data/prepared/pool.jsonl"))
@click.option("--query-type", default="questions")
@click.option("--model", default=Params().generate.model)
@click.option("--methods", default="plain,stage,ctranslate2", help=f"Comma-separated, of: {', '.join(METHODS)}.")
@click.option("--passages", type=int, default=60)
@click.option("--batch-size", type=int, default=32)
@click.option("--num-examples", type=int, default=2)
@click.option("--passage-max-tokens", type=int, default=128)
@click.option("--max-new-tokens", type=int, default=32)
@click.option("--temperature", type=float, default=0.0, help="0: greedy (outputs comparable across methods).")
@click.option(
    "--ct2-temperature",
    type=float,
    default=0.0,
    help="The ctranslate2 methods' sampling temperature in place of --temperature (0: --temperature).",
)
@click.option("--max-copy-run", type=int, default=8, help="Cleaning: generate.max_copy_run.")
@click.option("--threads", type=int, default=0, help="torch and CTranslate2 threads (0: torch's default).")
@click.option("--seed", type=int, default=42)
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), default=None, help="For the round trip.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), default=None)
@click.option("--teacher/--no-teacher", default=True, help="With --prepared/--index: also score with the teacher.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the figures as JSON.")
def main(
    pool: Path,
    query_type: str,
    model: str,
    methods: str,
    passages: int,
    batch_size: int,
    num_examples: int,
    passage_max_tokens: int,
    max_new_tokens: int,
    temperature: float,
    ct2_temperature: float,
    max_copy_run: int,
    threads: int,
    seed: int,
    prepared: Path | None,
    index_dir: Path | None,
    teacher: bool,
    out: Path | None,
) -> None:
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = sorted(m for m in chosen if m not in METHODS[:-1] and not SAMPLED.match(m))
    if unknown or not chosen:
        raise click.BadParameter(f"unknown methods {unknown}; use {', '.join(METHODS)}", param_hint="--methods")
    if threads:
        torch.set_num_threads(threads)
    config = replace(
        Params().to_generate(query_type),
        model=model,
        backend="transformers",
        device="cpu",
        passages=passages,
        num_examples=num_examples,
        passage_max_tokens=passage_max_tokens,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=0,  # the plain loop's setting; a sampled method sets its own
        samples_per_passage=1,
        batch_size=batch_size,
        max_copy_run=max_copy_run,
        seed=seed,
    )
    sampled_methods = {m: match for m in chosen if (match := SAMPLED.match(m))}
    wants_tf = {"plain", "batched", "stage"} & set(chosen) or any(m[1] == "stage" for m in sampled_methods.values())
    tf = TransformersBackend(model, "cpu", config.dtype) if wants_tf else None
    wants_ct2 = {"ctranslate2", "ct2-whole"} & set(chosen) or any(m[1] == "ct2" for m in sampled_methods.values())
    ct2 = CTranslate2Backend(model, "cpu", config.dtype) if wants_ct2 else None
    # ``-q<quantization>`` / ``-c<compute_type>``: a ctranslate2 backend converted with another quantization
    # (e.g. float32: no int8 at all) and/or run with another compute type (e.g. float32 on the int8 weights:
    # dequantised weights, float32 activations and GEMM).
    ct2_variants: dict[tuple[str, str], CTranslate2Backend] = {}
    for match in sampled_methods.values():
        quant, compute = match[5] or "", match[6] or ""
        if match[1] == "ct2" and (quant or compute) and (quant, compute) not in ct2_variants:
            variant = CTranslate2Backend(model, "cpu", config.dtype, quantization=quant or "int8")
            if compute:
                variant._generator_args["compute_type"] = compute
                variant.generator = variant._ct2.Generator(str(variant.path), **variant._generator_args)
            ct2_variants[quant, compute] = variant
    either = tf or ct2
    if either is None:
        raise click.UsageError("no method needs a backend: name at least one with --methods")
    tokenizer = either.tokenizer  # the same folder's tokenizer: the same prompts
    pool_docs = read_pool(pool)
    docs = select_passages(pool_docs, passages, seed)
    builder = PromptBuilder(tokenizer, load_type(query_type), num_examples, passage_max_tokens, seed)
    prompts = [builder.build(d) for d in docs]
    if tf is not None:
        plain_loop(tf, prompts[:1], config)  # warm-up (first-call allocations)
    for backend in [b for b in (ct2, *ct2_variants.values()) if b is not None]:
        # warm-up: CTranslate2's first calls are slower too. Sampled, so that it runs on a fresh generator and
        # leaves no few-shot prefix state cached for a greedy method to reuse.
        warm = replace(config, temperature=config.temperature or 0.7)
        generate_completions(warm, backend, prompts[:2], Checkpoint(None), progress=False)

    ct2_config = replace(config, backend="ctranslate2", temperature=ct2_sampling_temperature(config, ct2_temperature))
    runners: dict[str, Callable[[], list[list[Completion]]]] = {
        "plain": lambda: [[c] for c in plain_loop(tf, prompts, config)],
        "batched": lambda: stage_run(tf, prompts, config, reuse=False),
        "stage": lambda: stage_run(tf, prompts, config, reuse=True),
        "ctranslate2": lambda: ct2_run(ct2, prompts, ct2_config, groups=True),
        "ct2-whole": lambda: ct2_run(ct2, prompts, ct2_config, groups=False),
    }
    for name, match in sampled_methods.items():
        sampled = replace(config, samples_per_passage=int(match.group(2)))  # raises at temperature 0 if k > 1
        sampled = replace(sampled, top_k=int(match.group(3) or 0), batch_size=int(match.group(4) or config.batch_size))
        if match[1] == "ct2":
            sampled = replace(
                sampled, backend="ctranslate2", temperature=ct2_sampling_temperature(sampled, ct2_temperature)
            )
        if match[7]:  # ``-t<temperature>``: this method's own temperature instead of --temperature
            sampled = replace(sampled, temperature=float(match[7]))
        if match[1] == "stage":
            runners[name] = partial(stage_run, tf, prompts, sampled, reuse=True)
        else:
            ct2_backend = ct2_variants.get((match[5] or "", match[6] or ""), ct2)
            runners[name] = partial(ct2_run, ct2_backend, prompts, sampled, groups=True)
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, list[list[Completion]]] = {}
    for name in chosen:
        wall, cpu = time.perf_counter(), time.process_time()
        outputs[name] = runners[name]()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results[name] = {
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "passages_per_s": round(len(prompts) / wall, 4),
            "passages_per_cpu_s": round(len(prompts) / cpu, 4),
        }

    domain = vocabulary(d.contents for d in pool_docs)
    kept: dict[str, list[dict[str, str]]] = {}
    for name in chosen:
        kept[name], summary = kept_queries(query_type, prompts, outputs[name], domain, max_copy_run)
        results[name]["keep_rate"] = summary["keep_rate"]
        results[name]["dropped"] = {k: v for k, v in summary["dropped"].items() if v}
        results[name]["kept_per_passage"] = round(len(kept[name]) / len(prompts), 4)
        results[name]["coverage"] = round(len({r["source_doc_id"] for r in kept[name]}) / len(prompts), 4)
        results[name]["kept_per_cpu_s"] = round(len(kept[name]) / results[name]["cpu_seconds"], 4)
    trip = round_trip(kept, prepared, index_dir, teacher) if prepared is not None and index_dir is not None else {}

    base_name = "plain" if "plain" in results else chosen[0]
    ref_name = "stage" if "stage" in results else base_name
    base, ref = results[base_name], results[ref_name]
    prefix_len = sum(len(p.prefix_ids) for p in prompts) / len(prompts)
    suffix_len = sum(len(p.suffix_ids) for p in prompts) / len(prompts)
    print(
        f"{len(prompts)} passages of {pool}, model {model}, type {query_type}, batch {batch_size}, threads "
        f"{torch.get_num_threads()}, {num_examples} examples, mean prompt {prefix_len:.0f} prefix + "
        f"{suffix_len:.0f} passage tokens, {len({p.prefix_ids for p in prompts})} distinct prefixes, "
        f"max_new_tokens {max_new_tokens}, temperature {temperature}"
        + (f", ctranslate2 temperature {ct2_temperature}" if ct2_temperature else "")
    )
    print(
        f"{'method':13} {'wall s':>7} {'cpu s':>7} {'pass/cpu-s':>10} {'vs ' + base_name:>9} {'vs ' + ref_name:>9} "
        f"{'agree':>6} {'kept':>5} {'q/pass':>6} {'cover':>5} {'kept/cpu-s':>10} {'round-trip':>10} {'rt/cpu-s':>8} "
        f"{'teacher1':>8} {'scored':>6} {'sc/cpu-s':>8}"
    )
    for name, r in results.items():
        r["speedup_cpu"] = round(base["cpu_seconds"] / r["cpu_seconds"], 3)
        r["speedup_cpu_vs_" + ref_name] = round(ref["cpu_seconds"] / r["cpu_seconds"], 3)
        same = sum(a[0].text == b[0].text for a, b in zip(outputs[name], outputs[base_name], strict=True))
        r["agree"] = round(same / len(prompts), 3)
        rt = ""
        if name in trip:
            r["round_trip"] = round(trip[name]["round_trip"], 4)
            r["round_trip_per_cpu_s"] = round(r["round_trip"] * len(kept[name]) / r["cpu_seconds"], 4)
            rt = f"{r['round_trip']:10.3f} {r['round_trip_per_cpu_s']:8.3f}"
            if "score_kept" in trip[name]:
                r["teacher_first"] = round(trip[name]["teacher_first"], 4)
                r["score_kept"] = round(trip[name]["score_kept"], 4)
                r["score_kept_per_cpu_s"] = round(r["score_kept"] * len(kept[name]) / r["cpu_seconds"], 4)
                rt += f" {r['teacher_first']:8.3f} {r['score_kept']:6.3f} {r['score_kept_per_cpu_s']:8.3f}"
        print(
            f"{name:13} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f} {r['passages_per_cpu_s']:10.3f} "
            f"{r['speedup_cpu']:8.2f}x {r['speedup_cpu_vs_' + ref_name]:8.2f}x {r['agree']:6.2f} "
            f"{r['keep_rate']:5.2f} {r['kept_per_passage']:6.2f} {r['coverage']:5.2f} {r['kept_per_cpu_s']:10.3f} {rt}"
        )
    for name, r in results.items():
        print(f"  {name} dropped: {r['dropped']}")
    if out is not None:
        settings = {
            "pool": str(pool),
            "model": model,
            "query_type": query_type,
            "passages": len(prompts),
            "batch_size": batch_size,
            "num_examples": num_examples,
            "passage_max_tokens": passage_max_tokens,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "ct2_temperature": ct2_temperature,
            "threads": torch.get_num_threads(),
        }
        samples = {
            name: [[p.doc_id, *(c.text for c in cs)] for p, cs in zip(prompts[:12], outputs[name][:12], strict=True)]
            for name in chosen
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"settings": settings, "results": results, "samples": samples}
        out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
