"""Benchmark: corpus encoding speed per CPU core, and the rankings of the resulting index, for each engine against
``SentenceTransformer.encode`` (what a user would call instead), measured in one run on the same passages.

Methods (``--methods``, comma-separated):

* ``st``: ``SentenceTransformer(model).encode(texts, batch_size, normalize_embeddings=True)``, the reference;
* ``torch``: listdistill's :class:`~listdistill.encoder.Encoder` in PyTorch (length-sorted batches);
* ``torch-bf16``: the same under ``torch.autocast("cpu", torch.bfloat16)`` (fast only where the CPU has AMX or
  AVX512-BF16);
* ``onnx``: the transformer exported to ONNX and run by ONNX Runtime, float32 (bench/onnx_engine.py);
* ``onnx-int8``: the same with ONNX Runtime's dynamic int8 quantisation of the MatMul weights;
* ``openvino-f32`` / ``openvino-bf16``: the exported graph compiled by OpenVINO at that precision (needs
  ``pip install openvino``).

The pipeline's encoder is ``torch`` at ``student.dtype`` (``auto``: ``torch-bf16`` where the CPU computes bf16
natively, else ``torch``).

For each method: passages per CPU-second (``time.process_time`` of this process; run with ``--threads 1`` to
read it per core) and per wall second over the corpus, the ratio to ``st``, the cosine of each passage embedding
to ``st``'s (mean and minimum), and, with ``--prepared`` (a prepare stage's folder: corpus, queries, qrels),
nDCG@10 and R@100 of exact (faiss Flat) search over the index the method built, queries encoded by the same
method, with the paired randomization p against ``st``'s index. Model loading and the one-off ONNX export are not
timed (a warm-up batch runs first).

Example (the README's table)::

    OMP_NUM_THREADS=1 python bench/bench_encode.py --prepared data/prepared --threads 1 \\
        --methods st,torch,onnx,onnx-int8,torch-bf16 --out bench/results/bench_encode_cranfield.json
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from listdistill.config import load_params
from listdistill.encoder import Encoder
from listdistill.evaluate.metrics import aggregate, paired_randomization, per_query
from listdistill.index import dense
from listdistill.models import resolve_model
from listdistill.records import read_docs, read_qrels, read_queries

METHODS = ("st", "torch", "torch-bf16", "onnx", "onnx-int8", "openvino-f32", "openvino-bf16")


@contextlib.contextmanager
def timed(into: dict[str, float]) -> Iterator[None]:
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    into["cpu_s"] = time.process_time() - cpu
    into["wall_s"] = time.perf_counter() - wall


def st_encoder(location: str, batch_size: int, max_length: int) -> Callable[[list[str], bool], np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(location, device="cpu")
    model.max_seq_length = max_length

    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)

    return encode


def our_encoder(encoder: Encoder, bf16: bool = False) -> Callable[[list[str], bool], np.ndarray]:
    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            return encoder.encode(texts, is_query=is_query)

    return encode


def engine_encoder(encoder: Encoder, method: str) -> Callable[[list[str], bool], np.ndarray]:
    from onnx_engine import EngineEncoder, OnnxTransformer, OpenVinoTransformer

    folder = encoder.location
    if method.startswith("onnx"):
        engine: Any = OnnxTransformer(folder, quantized=method == "onnx-int8")
    else:
        engine = OpenVinoTransformer(folder, precision=method.removeprefix("openvino-"))
    return EngineEncoder(encoder, engine).encode


@click.command()
@click.option("--params", "params_path", type=click.Path(path_type=Path, dir_okay=False), default="params.yaml")
@click.option("--set", "overrides", multiple=True, help="Params overrides, as the stages take them.")
@click.option("--prepared", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@click.option("--passages", type=int, default=0, help="Encode only the first N passages (0: the whole corpus).")
@click.option("--methods", default="st,torch,onnx,onnx-int8")
@click.option("--threads", type=int, default=1)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON results.")
def main(
    params_path: Path,
    overrides: tuple[str, ...],
    prepared: Path,
    passages: int,
    methods: str,
    threads: int,
    out: Path | None,
) -> None:
    torch.set_num_threads(threads)
    p = load_params(params_path, overrides)
    cfg = replace(p.to_encoder(), device="cpu", dtype="float32")
    location = resolve_model(cfg.model).location
    docs = read_docs(prepared / "corpus.jsonl")
    docs = docs[:passages] if passages else docs
    texts = [d.contents for d in docs]
    queries = read_queries(prepared / "queries.jsonl")
    evaluate = not passages
    qrels = read_qrels(prepared / "qrels.txt") if evaluate else {}
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise click.BadParameter(f"unknown method(s) {unknown}; use {', '.join(METHODS)}")
    results: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, np.ndarray] = {}
    pqs: dict[str, dict[str, dict[str, float]]] = {}
    for method in chosen:
        if method == "st":
            encode = st_encoder(location, cfg.batch_size, cfg.passage_max_length)
        elif method.startswith(("onnx", "openvino")):
            encode = engine_encoder(Encoder(cfg), method)
        else:
            encode = our_encoder(Encoder(cfg), bf16=method == "torch-bf16")
        encode(texts[:8], False)  # warm-up: allocations, the one-off export
        row: dict[str, Any] = {}
        with timed(row):
            emb = encode(texts, False)
        row["passages"] = len(texts)
        row["passages_per_cpu_s"] = round(len(texts) / row["cpu_s"], 2)
        row["passages_per_wall_s"] = round(len(texts) / row["wall_s"], 2)
        embeddings[method] = emb
        if evaluate:
            index = dense.build_index(emb, "Flat")
            q_emb = encode([q.text for q in queries], True)
            run = dense.search(index, q_emb, [q.query_id for q in queries], [d.doc_id for d in docs], 100)
            pqs[method] = per_query(qrels, run, ("nDCG@10", "R@100"))
            row.update(aggregate(pqs[method]))
        results[method] = row
        click.echo(f"{method}: {json.dumps(row)}", err=True)
    base = "st" if "st" in results else chosen[0]
    for method, row in results.items():
        row["speed_vs_" + base] = round(row["passages_per_cpu_s"] / results[base]["passages_per_cpu_s"], 2)
        cos = np.einsum("nd,nd->n", embeddings[method], embeddings[base])  # (N,)
        row["cosine_to_" + base] = {"mean": round(float(cos.mean()), 6), "min": round(float(cos.min()), 6)}
        if evaluate and method != base:
            row["p_nDCG@10_vs_" + base] = round(paired_randomization(pqs[method]["nDCG@10"], pqs[base]["nDCG@10"]), 4)
    report = {
        "model": cfg.model,
        "collection": str(prepared),
        "threads": threads,
        "batch_size": cfg.batch_size,
        "passage_max_length": cfg.passage_max_length,
        "methods": results,
    }
    text = json.dumps(report, indent=2)
    click.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
