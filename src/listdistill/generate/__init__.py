"""Synthetic query generation: one query (or ``samples_per_passage`` of them) of one type for each sampled
passage of the generation pool.

Entry point: :func:`generate_queries` (one query type per call, as the DVC stage runs one type per stage),
then :func:`write_outputs`. Steps:

1. read the pool (``{"doc_id", "title"?, "text"}`` JSONL) and take a seeded sample of ``passages`` of it;
   the sample depends on the seed only, so every type sees the same passages;
2. build one prompt per passage (:mod:`.prompts`): the type's instruction and ``num_examples`` few-shot
   examples drawn per passage, then the truncated passage;
3. sort prompts by the length of their passage part and cut them into batches of ``batch_size`` (the
   backend reuses each few-shot prefix's KV cache across batches); each batch is generated once, with a
   seed derived from ``(seed, type, first doc id)``, and its completions are appended to a checkpoint file
   (a rerun with the same params skips finished batches; the file is removed once the outputs are written);
   with ``samples_per_passage`` k > 1, each prompt is prefilled once and k independent samples are drawn
   from it (sampling only; see :mod:`.backends`);
4. clean every completion and drop the bad ones with a recorded reason (:mod:`.clean`), in doc-id order
   (a passage's samples in the order the backend returns them); the duplicate rule drops a sample that
   repeats an earlier query of the type; the whole pool's vocabulary tells words borrowed from the few-shot
   examples from the domain's own.

Sharding (:mod:`listdistill.shard`): shard ``i/N`` generates a contiguous range of the batches planned from the
whole sample (a batch's seed and prompts do not depend on the shard) and writes their completions as a part
(:func:`generate_part`); :func:`merge_parts` cleans all of them together (the duplicate rule is global), so the
merged outputs are byte-identical to a whole run's. The backend's few-shot prefix caches are computed up front,
in the order in which the whole run meets them (``warm``), so they too do not depend on the shard.

Output records: ``{"query_id": "<type>-<doc_id>", "text", "query_type", "source_doc_id"}``; with
``samples_per_passage`` k > 1, a passage's first sample keeps that id and its sample ``j`` (2 to k) is
``<type>-<doc_id>-<j>`` (as the ``sentences`` type numbers its spans); ids that would collide (a doc id that
already ends in ``-<j>``) raise an error rather than shadow each other.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from listdistill.generate.backends import Backend, Completion, SamplingConfig, load_backend
from listdistill.generate.catalog import QueryType, load_type
from listdistill.generate.clean import (
    DROP_REASONS,
    CleanConfig,
    clean_generation,
    domain_vocabulary,
    drop_foreign_items,
    drop_reason,
    prompt_texts,
    words,
)
from listdistill.generate.extract import extract_queries
from listdistill.generate.prompts import Prompt, PromptBuilder
from listdistill.io import FormatError, atomic_open, write_json
from listdistill.records import (
    Doc,
    DroppedQuery,
    GeneratedQuery,
    iter_jsonl,
    read_docs,
    write_dropped,
    write_generated,
    write_jsonl,
)
from listdistill.shard import WHOLE, Shard, ShardError

SAMPLE_ROWS = 20  # rows of the sample table (first passages in doc-id order, kept and dropped)

__all__ = [
    "Checkpoint",
    "GenerateConfig",
    "GenerateResult",
    "generate_completions",
    "generate_part",
    "generate_queries",
    "merge_parts",
    "read_pool",
    "select_passages",
    "write_outputs",
]


@dataclass(frozen=True)
class GenerateConfig:
    """One query type's generation. No defaults: ``Params.to_generate`` builds it from ``generate``, ``seed`` and
    ``device``."""

    query_type: str
    model: str
    backend: str
    device: str
    dtype: str
    tensor_parallel_size: int  # vllm: GPUs per model copy (0: every visible GPU); data parallel = shards
    passages: int  # seeded sample of the pool; 0: the whole pool
    num_examples: int  # few-shot examples drawn per passage
    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    top_k: int  # sampling from the top_k most likely tokens only, then top-p among them (0: off)
    # Independent samples drawn per passage from one prefill of its prompt (needs temperature > 0); ids
    # <type>-<doc_id> for the first, <type>-<doc_id>-<j> (j = 2..k) for the others. Types cut from the passages
    # (kind extract) ignore it (they have their own per_passage).
    samples_per_passage: int
    passage_max_tokens: int  # 0: no truncation
    batch_size: int
    max_copy_run: int
    seed: int

    def __post_init__(self) -> None:
        self.sampling(None)  # the sampling rules (SamplingConfig) checked here, before any model loads

    def sampling(self, qtype: QueryType | None) -> SamplingConfig:
        """The decoding settings of ``qtype`` (None: without the type's own stop rules)."""
        return SamplingConfig(
            (qtype.max_new_tokens if qtype else 0) or self.max_new_tokens,
            self.temperature,
            self.top_p,
            stop_items=(qtype.max_items if qtype else 0) or 0,
            stop_words=(qtype.max_words if qtype else 0) or 0,
            stop_sentence=qtype.first_sentence if qtype else False,
            samples=self.samples_per_passage,
            top_k=self.top_k,
        )


@dataclass
class GenerateResult:
    queries: list[GeneratedQuery]  # the kept queries
    rows: list[dict[str, Any]]  # every generation: query_id, source_doc_id, raw, text, finished, status
    stats: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None  # removed by write_outputs once the outputs are written

    @property
    def dropped(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "kept"]


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


@dataclass
class _Plan:
    qtype: QueryType
    pool_docs: list[Doc]
    docs: list[Doc]  # the seeded sample, in doc-id order


def _plan(config: GenerateConfig, pool: str | Path) -> _Plan:
    qtype = load_type(config.query_type)  # unknown type: error before anything slow
    pool_docs = read_pool(pool)
    n = qtype.extract.passages if qtype.extract is not None and qtype.extract.passages else config.passages
    return _Plan(qtype, pool_docs, select_passages(pool_docs, n, config.seed))


def _prompts(config: GenerateConfig, plan: _Plan, backend: Backend | None) -> tuple[Backend, list[Prompt]]:
    if backend is None:
        backend = load_backend(config.backend, config.model, config.device, config.dtype, config.tensor_parallel_size)
    builder = PromptBuilder(backend.tokenizer, plan.qtype, config.num_examples, config.passage_max_tokens, config.seed)
    return backend, [builder.build(d) for d in plan.docs]


def _checkpoint_path(config: GenerateConfig, checkpoint_dir: str | Path | None, shard: Shard) -> Path | None:
    if checkpoint_dir is None:
        return None
    name = config.query_type if shard.whole else f"{config.query_type}.{shard.name}"
    return Path(checkpoint_dir) / f"{name}.jsonl"


def _finish(
    config: GenerateConfig,
    plan: _Plan,
    prompts: Sequence[Prompt],
    completions: dict[str, list[Completion]],
    checkpoint: Path | None,
) -> GenerateResult:
    """Clean every completion and summarise (the whole sample at once: duplicates are found across it)."""
    qtype = plan.qtype
    domain = domain_vocabulary(d.contents for d in plan.pool_docs)
    rows = clean_all(qtype, prompts, completions, CleanConfig(max_copy_run=config.max_copy_run), domain)
    queries = [
        GeneratedQuery(r["query_id"], r["text"], qtype.name, r["source_doc_id"]) for r in rows if r["status"] == "kept"
    ]
    stats = summarise(qtype, rows)
    stats["passages"] = len(plan.docs)
    return GenerateResult(queries, rows, stats, checkpoint)


def generate_queries(
    config: GenerateConfig,
    pool: str | Path,
    checkpoint_dir: str | Path | None = None,
    backend: Backend | None = None,
    progress: bool = True,
) -> GenerateResult:
    """Generate, clean and summarise the queries of one type (see the module docstring).

    ``backend`` may be passed to reuse a loaded model; otherwise ``config.backend`` is loaded. With
    ``checkpoint_dir``, finished batches are appended to ``<checkpoint_dir>/<type>.jsonl`` as they complete
    and reused by a rerun; :func:`write_outputs` removes the file once the outputs are written.
    """
    plan = _plan(config, pool)
    if plan.qtype.kind == "extract":
        return _extract(config, plan)
    backend, prompts = _prompts(config, plan, backend)
    ckpt_path = _checkpoint_path(config, checkpoint_dir, WHOLE)
    completions = generate_completions(config, backend, prompts, Checkpoint(ckpt_path), progress)
    return _finish(config, plan, prompts, completions, ckpt_path)


def _extract(config: GenerateConfig, plan: _Plan) -> GenerateResult:
    """A type cut from the passages (no model; :mod:`.extract`): the same outputs and stats as a generated one."""
    assert plan.qtype.extract is not None
    queries, dropped = extract_queries(plan.docs, plan.qtype.name, plan.qtype.extract, config.seed)
    rows = [{**q, "status": "kept", "raw": q["text"], "finished": True} for q in queries]
    rows += [{"text": "", **d, "raw": d.get("text", ""), "finished": True} for d in dropped]
    stats = summarise(plan.qtype, rows)
    stats["passages"] = len(plan.docs)
    return GenerateResult([GeneratedQuery(**q) for q in queries], rows, stats, None)


PART_FILE = "completions.jsonl"


def generate_part(
    config: GenerateConfig,
    pool: str | Path,
    shard: Shard,
    folder: str | Path,
    checkpoint_dir: str | Path | None = None,
    backend: Backend | None = None,
    progress: bool = True,
) -> int:
    """Generate the batches of ``shard`` and write their completions to ``<folder>/completions.jsonl`` (one
    record per passage, in batch order: ``doc_id``, the shown ``passage``, ``example_ids``, the raw ``text``
    and ``finished`` of its first sample and, with ``samples_per_passage`` > 1 only, ``more_samples``: the
    others' ``[text, finished]``). Its checkpoint is ``<checkpoint_dir>/<type>.<i>-of-<N>.jsonl``, removed once the part
    is written. Returns the number of batches of the whole run (the shards' work units)."""
    plan = _plan(config, pool)
    if plan.qtype.kind == "extract":
        raise ShardError(f"query type {plan.qtype.name!r} is cut from the passages with no model: run it whole")
    backend, prompts = _prompts(config, plan, backend)
    ckpt_path = _checkpoint_path(config, checkpoint_dir, shard)
    completions = generate_completions(config, backend, prompts, Checkpoint(ckpt_path), progress, shard)
    batches = plan_batches(prompts, config.batch_size)
    own = [p for batch in shard.take(batches) for p in batch]

    def record(p: Prompt) -> dict[str, Any]:
        first, *more = completions[p.doc_id]
        rec: dict[str, Any] = {
            "doc_id": p.doc_id,
            "passage": p.passage,
            "example_ids": list(p.example_ids),
            "text": first.text,
            "finished": first.finished,
        }
        if config.samples_per_passage > 1:
            rec["more_samples"] = [[c.text, c.finished] for c in more]
        return rec

    write_jsonl(Path(folder) / PART_FILE, (record(p) for p in own))
    if ckpt_path is not None:
        ckpt_path.unlink(missing_ok=True)
    return len(batches)


def merge_parts(config: GenerateConfig, pool: str | Path, folders: Sequence[str | Path]) -> GenerateResult:
    """Clean and summarise the completions of every part together, as a whole run does (no model is loaded:
    the parts hold the shown passages and the drawn examples). Every sampled passage must be in exactly one
    part; otherwise :class:`~listdistill.shard.ShardError` names the passages."""
    plan = _plan(config, pool)
    prompts: dict[str, Prompt] = {}
    completions: dict[str, list[Completion]] = {}
    for folder in folders:
        path = Path(folder) / PART_FILE
        for o in iter_jsonl(path, ("doc_id", "passage", "example_ids", "text", "finished")):
            doc_id = str(o["doc_id"])
            if doc_id in prompts:
                raise ShardError(f"{path}: passage {doc_id!r} is in another part too")
            more = [Completion(t, bool(f)) for t, f in o.get("more_samples", [])]
            if 1 + len(more) != config.samples_per_passage:
                raise ShardError(
                    f"{path}: passage {doc_id!r} has {1 + len(more)} samples, the settings ask for "
                    f"{config.samples_per_passage}"
                )
            prompts[doc_id] = Prompt(doc_id, o["passage"], tuple(o["example_ids"]), (), ())
            completions[doc_id] = [Completion(o["text"], bool(o["finished"])), *more]
    expected = {d.doc_id for d in plan.docs}
    missing, extra = sorted(expected - set(prompts)), sorted(set(prompts) - expected)
    if missing or extra:
        raise ShardError(
            f"the parts do not hold the sampled passages: missing {missing[:5]}, not sampled {extra[:5]} "
            f"({len(missing)} and {len(extra)}); were the parts made from this pool with these settings?"
        )
    return _finish(config, plan, [prompts[d.doc_id] for d in plan.docs], completions, None)


def write_outputs(
    result: GenerateResult,
    out: str | Path,
    stats: str | Path,
    sample: str | Path | None = None,
    dropped: str | Path | None = None,
) -> None:
    """Write the kept queries (JSONL), the stats (JSON), and optionally a sample table (TSV) and every
    dropped generation with its reason (JSONL); each file atomically."""
    write_generated(out, result.queries)
    write_json(stats, result.stats)
    if dropped is not None:
        keys = ("query_id", "source_doc_id", "status", "text", "raw")
        write_dropped(dropped, (DroppedQuery(*(r[k] for k in keys)) for r in result.dropped))
    if sample is not None:
        with atomic_open(sample) as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["query_id", "source_doc_id", "status", "text", "raw"])
            for r in result.rows[:SAMPLE_ROWS]:
                writer.writerow([r["query_id"], r["source_doc_id"], r["status"], r["text"], _one_line(r["raw"])])
    if result.checkpoint is not None:
        result.checkpoint.unlink(missing_ok=True)


def _one_line(text: str) -> str:
    return text.replace("\t", " ").replace("\r", "\\r").replace("\n", "\\n")
