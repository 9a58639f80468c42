"""The generation runs: a whole type (:func:`generate_queries`), one shard's part and the merge of the parts, and
the outputs."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listdistill.generate.backends import Backend, Completion, load_backend
from listdistill.generate.batches import (
    Checkpoint,
    clean_all,
    generate_completions,
    plan_batches,
    read_pool,
    select_passages,
    summarise,
)
from listdistill.generate.catalog import QueryType, load_type
from listdistill.generate.clean import (
    CleanConfig,
    domain_vocabulary,
)
from listdistill.generate.config import SAMPLE_ROWS, GenerateConfig, GenerateResult
from listdistill.generate.extract import extract_queries
from listdistill.generate.prompts import Prompt, PromptBuilder
from listdistill.io import atomic_open, write_json
from listdistill.records import (
    Doc,
    DroppedQuery,
    GeneratedQuery,
    iter_jsonl,
    write_dropped,
    write_generated,
    write_jsonl,
)
from listdistill.shard import WHOLE, Shard, ShardError


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
