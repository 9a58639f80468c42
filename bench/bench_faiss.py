"""faiss index types against exact search: build time, search time per query, index size, recall@100 against
Flat's top 100, and nDCG@10 on the test qrels, on Vaswani and on a larger synthetic corpus.

    python -m stages.prepare --set dataset.name=vaswani --out /tmp/V/prepared --stats /tmp/V/prepare.json
    python -m stages.index --corpus /tmp/V/prepared/corpus.jsonl --out /tmp/V/index
    OMP_NUM_THREADS=1 python bench/bench_faiss.py --prepared /tmp/V/prepared --index /tmp/V/index \
        --threads 1 --out bench/results/faiss.md

Vaswani: the zero-shot student's corpus embeddings from the index stage (11,429 x 384), read memory-mapped
(build_index's bounded-memory path). Queries: the 93 test queries (nDCG@10) and, so that timings rest on
enough queries, a seeded sample of ``--corpus-queries`` passages used as queries. Synthetic: ``--synthetic``
seeded vectors of dimension 384 from a mixture of ``--clusters`` Gaussian clusters (each vector its cluster's
centre plus noise of the same norm, then unit-normalised), queried by ``--synthetic-queries`` fresh draws. It is
there for the speed and size ratios; its recall depends on the structure chosen (on 200k vectors, IVF,Flat's
recall@100 was 0.99 with 2,000 clusters, 0.68 with 4,000 and 0.32 with 10,000), so Vaswani's rows are the
recall evidence. Every index type is built with :class:`IndexConfig`'s defaults except the synthetic corpus's
``--synthetic-max-train`` (training-sample cap, to bound the time of the 1,789-cell k-means on one thread).
Search time is per query within batches of 1,024 queries.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import faiss
import numpy as np

from listdistill.config import Params
from listdistill.encoder import Encoder
from listdistill.evaluate.metrics import evaluate
from listdistill.index import dense
from listdistill.index.dense import IndexConfig
from listdistill.index.runs import IndexPaths
from listdistill.records import read_qrels, read_queries

SPECS = ("Flat", "HNSW", "IVF,Flat", "IVF,PQ")
K = 100


def top_k(index: faiss.Index, q: np.ndarray, k: int = K, chunk: int = 1024) -> tuple[np.ndarray, float]:
    """Row ids of the top ``k`` per query (-1 for missing hits) and the seconds the searches took."""
    out, seconds = [], 0.0
    for s in range(0, len(q), chunk):
        batch = np.ascontiguousarray(q[s : s + chunk], dtype=np.float32)  # (chunk, d)
        start = time.perf_counter()
        _, idx = index.search(batch, k)  # (chunk, k)
        seconds += time.perf_counter() - start
        out.append(idx)
    return np.concatenate(out), seconds


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each query's exact top k found in its approximate top k."""
    return float(np.mean([len(set(a[a >= 0]) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)]))


def mixture(n: int, d: int, clusters: int, seed: int) -> np.ndarray:
    """``n`` unit vectors, each a random one of ``clusters`` seeded centres plus noise of the same norm."""
    centres = np.random.default_rng(0).standard_normal((clusters, d)).astype(np.float32)  # (C, d)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(clusters, size=n)] + rng.standard_normal((n, d)).astype(np.float32)  # (n, d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_collection(
    name: str, emb_path: Path, cfg: IndexConfig, query_sets: dict[str, np.ndarray], judged: tuple | None
) -> list[dict[str, Any]]:
    """One row per index type; recall is against Flat, which comes first."""
    rows: list[dict[str, Any]] = []
    all_q = np.concatenate(list(query_sets.values()))  # (Q, d)
    bounds = np.cumsum([0] + [len(v) for v in query_sets.values()])
    exact = None
    n = np.load(emb_path, mmap_mode="r").shape[0]
    for spec in SPECS:
        c = dataclasses.replace(cfg, spec=spec)
        start = time.perf_counter()
        index = dense.build_index(emb_path, c)
        build_s = time.perf_counter() - start
        ids, search_s = top_k(index, all_q)
        exact = ids if exact is None else exact
        row: dict[str, Any] = {
            "collection": name,
            "spec": spec,
            "factory": dense.resolve_spec(c, n, all_q.shape[1]),
            "build_s": build_s,
            "ms_per_query": 1000 * search_s / len(all_q),
            "bytes": faiss.serialize_index(index).nbytes,
        }
        for i, qs in enumerate(query_sets):
            sl = slice(bounds[i], bounds[i + 1])
            row[f"R@100 vs Flat ({qs})"] = recall(ids[sl], exact[sl])
        if judged is not None:
            qids, q_emb, doc_ids, qrels = judged
            run = dense.search(index, q_emb, qids, doc_ids, K)
            row.update(evaluate(qrels, run, ["nDCG@10", "R@100"]))
        rows.append(row)
        click.echo(f"{name} {spec}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float)))
        del index
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table with ratios against the collection's Flat row."""
    cols = ["collection", "index", "faiss factory", "build s", "ms / query", "speed-up", "MiB", "size x"]
    extra = list(dict.fromkeys(k for r in rows for k in r if k.startswith("R@100 vs") or k in ("nDCG@10", "R@100")))
    lines = ["| " + " | ".join(cols + extra) + " |", "|" + "---|" * (len(cols) + len(extra))]
    flat = {r["collection"]: r for r in rows if r["spec"] == "Flat"}
    for r in rows:
        f = flat[r["collection"]]
        cells = [
            str(r["collection"]),
            str(r["spec"]),
            f"`{r['factory']}`",
            f"{r['build_s']:.2f}",
            f"{r['ms_per_query']:.3f}",
            f"{f['ms_per_query'] / r['ms_per_query']:.1f}x",
            f"{r['bytes'] / 2**20:.1f}",
            f"{r['bytes'] / f['bytes']:.2f}",
        ]
        cells += [f"{r[k]:.3f}" if k in r else "" for k in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@click.command(context_settings={"show_default": True})
@click.option("--prepared", type=click.Path(path_type=Path, exists=True), required=True, help="Vaswani prepare output.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--corpus-queries", type=int, default=2000, help="Corpus passages also used as queries (timing).")
@click.option("--synthetic", type=int, default=200_000, help="Synthetic corpus size; 0 skips it.")
@click.option("--synthetic-queries", type=int, default=1000)
@click.option("--clusters", type=int, default=3000, help="Gaussian clusters of the synthetic corpus.")
@click.option("--synthetic-max-train", type=int, default=65_536, help="Training-sample cap on the synthetic corpus.")
@click.option("--threads", type=int, default=1, help="faiss (OpenMP) and torch threads.")
@click.option("--seed", type=int, default=0)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Markdown results file.")
def main(
    prepared: Path,
    index_dir: Path,
    corpus_queries: int,
    synthetic: int,
    synthetic_queries: int,
    clusters: int,
    synthetic_max_train: int,
    threads: int,
    seed: int,
    out: Path | None,
) -> None:
    import torch

    faiss.omp_set_num_threads(threads)
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    start = time.perf_counter()
    cfg = IndexConfig(seed=seed)

    paths = IndexPaths(index_dir)
    queries = read_queries(prepared / "queries.jsonl")
    qrels = read_qrels(prepared / "qrels.txt", queries)
    queries = [q for q in queries if any(r > 0 for r in qrels.get(q.query_id, {}).values())]
    test_q = Encoder(Params().to_encoder()).encode_queries([q.text for q in queries])  # (93, d)
    corpus = np.load(paths.embeddings, mmap_mode="r")
    sample = np.sort(np.random.default_rng(seed).choice(len(corpus), size=corpus_queries, replace=False))
    query_sets = {"test queries": test_q, "corpus queries": np.asarray(corpus[sample])}
    judged = ([q.query_id for q in queries], test_q, paths.doc_ids, qrels)
    rows = bench_collection("vaswani", paths.embeddings, cfg, query_sets, judged)

    if synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "synthetic.npy"
            np.save(path, mixture(synthetic, 384, clusters, seed=seed + 1))
            q = mixture(synthetic_queries, 384, clusters, seed=seed + 2)
            syn_cfg = dataclasses.replace(cfg, max_train=synthetic_max_train)
            rows += bench_collection(f"synthetic {synthetic // 1000}k", path, syn_cfg, {"synthetic queries": q}, None)

    total = time.perf_counter() - start
    load_after = os.getloadavg()
    md = table(rows)
    click.echo(md)
    if out is not None:
        command = (
            f"OMP_NUM_THREADS={threads} python bench/bench_faiss.py --prepared {prepared} --index {index_dir} "
            f"--corpus-queries {corpus_queries} --synthetic {synthetic} --synthetic-queries {synthetic_queries} "
            f"--clusters {clusters} --synthetic-max-train {synthetic_max_train} --threads {threads} --seed {seed} "
            f"--out {out}"
        )
        machine = (
            f"{cpu_model()}, {os.cpu_count()} logical CPUs, {threads} thread(s), faiss {faiss.__version__}; "
            f"load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} before, "
            f"{'/'.join(f'{x:.2f}' for x in load_after)} after; whole bench {total / 60:.1f} min"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# faiss index types\n\n```\n{command}\n```\n\n{machine}\n\n{md}\n")


if __name__ == "__main__":
    main()
