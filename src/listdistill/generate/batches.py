"""The passages (a seeded sample of the pool), their batches and seeds, the checkpointed completions, their
cleaning and the summary."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from listdistill.generate.backends import Backend, Completion, SamplingConfig
from listdistill.generate.catalog import QueryType, load_type
from listdistill.generate.clean import (
    DROP_REASONS,
    CleanConfig,
    clean_generation,
    drop_foreign_items,
    drop_reason,
    prompt_texts,
    words,
)
from listdistill.generate.config import GenerateConfig
from listdistill.generate.prompts import Prompt
from listdistill.io import FormatError
from listdistill.records import (
    Doc,
    read_docs,
)
from listdistill.shard import WHOLE, Shard


def read_pool(path: str | Path) -> list[Doc]:
    """Read the generation pool (:func:`~listdistill.records.read_docs`, no blank passage); an empty pool is an
    error."""
    docs = read_docs(path, blank_text=False)
    if not docs:
        raise FormatError(f"{path}: expected at least one passage, the generation pool is empty")
    return docs


def _natural(doc_id: str) -> tuple[int, int | str]:
    return (0, int(doc_id)) if doc_id.isdigit() else (1, doc_id)


def select_passages(docs: Sequence[Doc], n: int, seed: int) -> list[Doc]:
    """A seeded sample of ``n`` passages (all when ``n`` is 0 or too large), in natural doc-id order."""
    ordered = sorted(docs, key=lambda d: _natural(d.doc_id))
    if 0 < n < len(ordered):
        ordered = sorted(random.Random(seed).sample(ordered, n), key=lambda d: _natural(d.doc_id))
    return ordered


def query_id(query_type: str, doc_id: str, sample: int = 1) -> str:
    """``<type>-<doc_id>`` for a passage's first sample, ``<type>-<doc_id>-<sample>`` for the others (1-based)."""
    return f"{query_type}-{doc_id}" if sample == 1 else f"{query_type}-{doc_id}-{sample}"


def plan_batches(prompts: Sequence[Prompt], batch_size: int) -> list[list[Prompt]]:
    """Sort prompts by the length of their own part (suffix), then cut into batches: little padding where
    it costs (the prefixes come from the backend's cache)."""
    ordered = sorted(prompts, key=lambda p: (len(p.suffix_ids), len(p.prefix_ids), _natural(p.doc_id)))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def batch_seed(seed: int, query_type: str, batch: Sequence[Prompt]) -> int:
    digest = hashlib.sha256(f"{seed}:{query_type}:{batch[0].doc_id}".encode()).hexdigest()
    return int(digest[:8], 16)


class Checkpoint:
    """Append-only JSONL of finished batches, keyed by a hash of everything that determines their output."""

    def __init__(self, path: Path | None):
        self.path = path
        self.done: dict[str, list[Completion]] = {}  # key -> the batch's completions, samples prompt-major
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.done[rec["key"]] = [Completion(t, bool(f)) for t, f in rec["completions"]]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut short by a kill

    def add(self, key: str, completions: list[Completion]) -> None:
        self.done[key] = completions
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "completions": [[c.text, c.finished] for c in completions]}) + "\n")
        except OSError as e:  # a full disk: the message names the checkpoint (a line cut short is skipped on resume)
            e.filename = e.filename or str(self.path)
            raise


def batch_key(config: GenerateConfig, sampling: SamplingConfig, seed: int, batch: Sequence[Prompt]) -> str:
    settings = asdict(sampling)
    for name, off in (("samples", 1), ("top_k", 0)):
        if settings[name] == off:
            del settings[name]  # the key a batch had before these settings existed, so old checkpoints resume
    payload = {
        "model": config.model,
        "backend": config.backend,
        "device": config.device,
        "dtype": config.dtype,
        "sampling": settings,
        "seed": seed,
        "prompts": [[p.doc_id, list(p.input_ids)] for p in batch],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def generate_completions(
    config: GenerateConfig,
    backend: Backend,
    prompts: Sequence[Prompt],
    checkpoint: Checkpoint,
    progress: bool = True,
    shard: Shard = WHOLE,
) -> dict[str, list[Completion]]:
    """Run (or reuse from the checkpoint) every batch of ``shard`` (a contiguous range of the batches planned
    from all ``prompts``); return doc_id -> its ``samples_per_passage`` completions."""
    out: dict[str, list[Completion]] = {}
    sampling = config.sampling(load_type(config.query_type))
    k = sampling.samples
    planned = plan_batches(prompts, config.batch_size)
    batches = shard.take(planned)
    warm = getattr(backend, "warm", None)
    if warm is not None:
        # Prefix caches in the order the whole run meets them, up to the last one this shard needs (a prefix's
        # cache depends only on those computed before it), so they do not depend on the shard.
        order = list(dict.fromkeys(p.prefix_ids for batch in planned for p in batch))
        needed = {p.prefix_ids for batch in batches for p in batch}
        warm(order[: max((i + 1 for i, x in enumerate(order) if x in needed), default=0)])
    bar = tqdm(
        total=sum(len(b) for b in batches), desc=f"generate {config.query_type}", unit="passage", disable=not progress
    )
    for batch in batches:
        seed = batch_seed(config.seed, config.query_type, batch)
        key = batch_key(config, sampling, seed, batch)
        completions = checkpoint.done.get(key)
        if completions is None or len(completions) != len(batch) * k:
            completions = backend.generate(batch, sampling, seed)
            if len(completions) != len(batch) * k:
                raise RuntimeError(
                    f"backend {backend.name!r} returned {len(completions)} completions for "
                    f"{len(batch)} prompts x {k} samples"
                )
            checkpoint.add(key, completions)
        out.update({p.doc_id: completions[i * k : (i + 1) * k] for i, p in enumerate(batch)})
        bar.update(len(batch))
    bar.close()
    return out


def clean_all(
    qtype: QueryType,
    prompts: Sequence[Prompt],
    completions: dict[str, Completion] | dict[str, list[Completion]],
    config: CleanConfig,
    domain: set[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per completion, prompts in doc-id order and each prompt's samples in order: raw and cleaned
    text and ``status`` (``kept`` or a drop reason). ``completions``: doc_id -> one completion or a list of
    samples. ``domain``: the pool's vocabulary (:func:`~listdistill.generate.clean.vocabulary`). Raises
    ValueError if two rows would get the same query id."""
    seen: set[str] = set()
    rows = []
    for p in sorted(prompts, key=lambda p: _natural(p.doc_id)):
        samples = completions[p.doc_id]
        shown = prompt_texts(qtype, p.example_ids)
        passage_words = words(p.passage)
        for j, comp in enumerate([samples] if isinstance(samples, Completion) else samples, start=1):
            text, complete = clean_generation(comp.text, qtype, config.max_words, comp.finished)
            if qtype.max_items and domain is not None:
                text = drop_foreign_items(text, shown, domain, qtype.max_items)
            list_type = bool(qtype.max_items)
            reason = drop_reason(text, complete, passage_words, shown, seen, config, list_type, domain)
            rows.append(
                {
                    "query_id": query_id(qtype.name, p.doc_id, j),
                    "source_doc_id": p.doc_id,
                    "status": reason or "kept",
                    "text": text,
                    "raw": comp.text,
                    "finished": comp.finished,
                }
            )
    ids = Counter(str(r["query_id"]) for r in rows)
    clashes = sorted(q for q, n in ids.items() if n > 1)
    if clashes:
        raise ValueError(f"query ids clash (a doc id ending in -<number> meets a sample number): {clashes[:5]}")
    return rows


def summarise(qtype: QueryType, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    kept = [r for r in rows if r["status"] == "kept"]
    reasons = Counter(r["status"] for r in rows if r["status"] != "kept")
    n_words = [len(r["text"].split()) for r in kept]
    return {
        "query_type": qtype.name,
        "generated": len(rows),
        "kept": len(kept),
        "dropped": {reason: reasons.get(reason, 0) for reason in DROP_REASONS},
        "dropped_total": sum(reasons.values()),
        "keep_rate": round(len(kept) / len(rows), 6) if rows else 0.0,
        "mean_words": round(sum(n_words) / len(n_words), 6) if n_words else 0.0,
        "mean_chars": round(sum(len(r["text"]) for r in kept) / len(kept), 6) if kept else 0.0,
    }
