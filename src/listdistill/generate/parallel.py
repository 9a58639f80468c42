"""Every configured query type in one run, the model-written types generated at once on a CPU.

The DVC stage ``generate`` runs all of ``generate.types`` (:func:`generate_types`). A model-written type's
generation is one process's work: on a CPU, its decoding of a few hundred short queries from a 135M model scales
poorly over threads (1.44x on 2), so the types run side by side instead, ``workers`` processes with
``threads`` CPU threads each (:func:`worker_plan`: by default one worker per thread torch may use, which follows
``OMP_NUM_THREADS``). Each type still loads its own model and draws its own seeded batches, exactly as a run of
that type alone does, so its outputs do not depend on the number of workers, on the order the types finish or on
which types run beside it. Types cut from the passages (no model) run in this process.

The generation always runs in worker processes (one when ``workers`` is 1), started with glibc's malloc settings
:data:`MALLOC_TUNABLES`: CTranslate2's decoding allocates and frees buffers of a few MB to a few tens of MB at
every step, and from fresh worker threads at every batch; by default glibc hands them back to the kernel and takes
them again page by page (Cranfield's ``random`` type: 3.5M page faults, 12% of its CPU time in the kernel). Kept
in the process instead, the same outputs cost 12% less CPU time (docs/results.md, the cost of the default).

Every batch's completions are kept in ``<checkpoint_dir>/<type>.jsonl``, keyed by everything that determines them
(:func:`~listdistill.generate.batches.batch_key`): a run killed part way resumes, and a rerun whose settings leave a
type's batches unchanged (another type added to ``generate.types``, a cleaning rule changed) generates nothing
for that type. The outputs of all the types are moved into place together when every type has succeeded
(:func:`listdistill.atomic.stage_outputs`).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from listdistill.atomic import stage_outputs
from listdistill.errors import StageError
from listdistill.generate.batches import read_pool
from listdistill.generate.catalog import load_type
from listdistill.generate.config import GenerateConfig
from listdistill.generate.run import generate_queries, write_outputs

# One malloc arena, nothing mmapped up to 32 MB, no trimming below 2 GB (glibc >= 2.26 reads them at start; other C
# libraries ignore the variable). A user's own GLIBC_TUNABLES come after these, so theirs win.
# Peak memory of one worker running the default generator on Cranfield (2.8 GB measured, with its malloc settings);
# larger generators need more: set generate.workers yourself.
WORKER_MEMORY_GB = 3.0
J = TypeVar("J")
R = TypeVar("R")
MALLOC_TUNABLES = "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483648"


@dataclass(frozen=True)
class TypeOutputs:
    """Where a type's outputs go: ``<out>/<type>.jsonl`` (kept), ``<out>/dropped/<type>.jsonl``,
    ``<stats>/<type>.json`` and, with ``samples``, ``<samples>/<type>.tsv``."""

    out: Path
    stats: Path
    samples: Path | None = None

    def files(self, query_type: str) -> list[Path]:
        """The type's output files: kept, stats, dropped and (with ``samples``) the sample table."""
        files = [self.out / f"{query_type}.jsonl", self.stats / f"{query_type}.json"]
        files.append(self.out / "dropped" / f"{query_type}.jsonl")
        if self.samples is not None:
            files.append(self.samples / f"{query_type}.tsv")
        return files


def worker_plan(requested: int, model_types: int, device: str, threads: int, memory_gb: float) -> tuple[int, int]:
    """``(workers, threads per worker)`` for ``model_types`` model-written types, ``threads`` CPU threads and
    ``memory_gb`` of available memory.

    ``requested`` 0: one worker per thread, at most one per type and one per :data:`WORKER_MEMORY_GB` of memory; a
    GPU (``device`` not ``cpu``) runs one type at a time, as does a single thread or a single type. The threads are
    shared out evenly (at least one each)."""
    if device != "cpu":
        return 1, threads
    workers = requested or min(threads, int(memory_gb // WORKER_MEMORY_GB))
    workers = max(1, min(workers, model_types))
    return workers, max(1, threads // workers)


@dataclass(frozen=True)
class _Job:
    config: GenerateConfig
    pool: Path
    checkpoint_dir: Path | None
    files: list[Path]  # the staged output files: kept, stats, dropped, sample?
    progress: bool


def _run_job(job: _Job) -> tuple[str, dict[str, Any], float, float]:
    """Generate one type and write its staged outputs; return its type, stats, CPU seconds and wall seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = generate_queries(job.config, job.pool, job.checkpoint_dir, progress=job.progress)
    result = dataclasses.replace(result, checkpoint=None)  # kept: the cache of finished batches
    out, stats, dropped, *sample = job.files
    write_outputs(result, out, stats, sample=sample[0] if sample else None, dropped=dropped)
    gc.collect()  # this worker's model, before it loads the next type's
    return job.config.query_type, result.stats, time.process_time() - cpu, time.perf_counter() - wall


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_in_workers(run: Callable[[J], R], jobs: Sequence[J], workers: int, threads: int) -> Iterator[R]:
    """``run`` of each job, yielded as it finishes, in ``workers`` processes of ``threads`` torch threads each,
    started with :data:`MALLOC_TUNABLES` and with ``spawn`` (a forked copy of a process that has started torch's or
    Java's threads can hang); ``run`` must be importable by name (a module-level function). A failed job, or a
    worker killed from outside (the kernel's out-of-memory killer), stops the others and raises."""
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")
    n = min(workers, len(jobs))
    executor = ProcessPoolExecutor(n, mp_context=context, initializer=_init_worker, initargs=(threads,))
    own = os.environ.get("GLIBC_TUNABLES")
    os.environ["GLIBC_TUNABLES"] = f"{MALLOC_TUNABLES}:{own}" if own else MALLOC_TUNABLES  # read as workers start
    try:
        futures = [executor.submit(run, job) for job in jobs]  # the workers start here, with the variable
    finally:
        if own is None:
            del os.environ["GLIBC_TUNABLES"]
        else:
            os.environ["GLIBC_TUNABLES"] = own
    try:
        # the longest types first would balance best, but their cost is not known before they run
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
            if pending and _worker_died(executor):  # concurrent.futures may notice only when the others end
                raise BrokenProcessPool("a worker process ended while jobs were left")
    except BrokenProcessPool as e:
        _stop(executor)
        raise StageError(
            f"a worker process died while generating (killed from outside, e.g. out of memory: {n} ran at once; "
            "set generate.workers lower)"
        ) from e
    except BaseException:
        _stop(executor)  # a failed type (or Ctrl-C) stops the others: the stage fails as a whole
        raise
    executor.shutdown(wait=True)


def _worker_died(executor: ProcessPoolExecutor) -> bool:
    processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
    return any(p.exitcode not in (None, 0) for p in list(processes.values()))


def _stop(executor: ProcessPoolExecutor) -> None:
    """End the workers now, running jobs included (concurrent.futures has no public way before Python 3.14)."""
    processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def generate_types(
    configs: Sequence[GenerateConfig],
    pool: str | Path,
    outputs: TypeOutputs,
    checkpoint_dir: str | Path | None = None,
    workers: int = 0,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Generate every type of ``configs`` (one config per type, the same settings) and write their outputs
    (:class:`TypeOutputs`), all moved into place together at the end; return each type's stats plus its
    ``cpu_s`` and ``wall_s`` (of the process that ran it; not written). ``threads``: the CPU threads to share
    among the workers (default: torch's count)."""
    import psutil
    import torch

    names = [c.query_type for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"generate.types: a type is listed twice: {names}")
    kinds = {c.query_type: load_type(c.query_type).kind for c in configs}  # an unknown type fails here, first
    read_pool(pool)  # a bad pool fails here, named, before any worker starts
    model = [c for c in configs if kinds[c.query_type] != "extract"]
    device = configs[0].device if configs else "cpu"
    memory_gb = psutil.virtual_memory().available / 2**30
    n_workers, per_worker = worker_plan(workers, len(model), device, threads or torch.get_num_threads(), memory_gb)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    files = {c.query_type: outputs.files(c.query_type) for c in configs}
    results: dict[str, dict[str, Any]] = {}
    with stage_outputs(*(f for c in configs for f in files[c.query_type])) as staged:
        it = iter(staged)
        tmp = {c.query_type: [next(it) for _ in files[c.query_type]] for c in configs}
        for t in tmp.values():
            for path in t:
                path.parent.mkdir(parents=True, exist_ok=True)
        alone = n_workers <= 1
        jobs = [_Job(c, Path(pool), ckpt, tmp[c.query_type], progress and alone) for c in model]
        extract = [_Job(c, Path(pool), ckpt, tmp[c.query_type], False) for c in configs if c not in model]
        done = itertools.chain(map(_run_job, extract), run_in_workers(_run_job, jobs, n_workers, per_worker))
        desc = f"generate ({n_workers} at once)"
        with tqdm(total=len(configs), desc=desc, unit="type", disable=not progress) as bar:  # ends its line on errors
            for name, stats, cpu_s, wall_s in done:
                results[name] = {**stats, "cpu_s": round(cpu_s, 1), "wall_s": round(wall_s, 1)}
                bar.update(1)
    return {name: results[name] for name in names}
