"""Synthetic query generation: one query (or ``samples_per_passage`` of them) of one type for each sampled
passage of the generation pool.

Entry point: :func:`generate_queries` (one query type per call), then :func:`write_outputs`; the DVC stage runs
every type through :func:`listdistill.generate.parallel.generate_types` (types side by side on a CPU, each as
this call runs it alone). Steps:

1. read the pool (``{"doc_id", "title"?, "text"}`` JSONL) and take a seeded sample of ``passages`` of it;
   the sample depends on the seed only, so every type sees the same passages;
2. build one prompt per passage (:mod:`.prompts`): the type's instruction and ``num_examples`` few-shot
   examples drawn per passage, then the truncated passage;
3. sort prompts by the length of their passage part and cut them into batches of ``batch_size`` (the
   backend reuses each few-shot prefix's KV cache across batches); each batch is generated once, with a
   seed derived from ``(seed, type, first doc id)``, and its completions are appended to a checkpoint file
   (a rerun with the same params skips finished batches; :func:`write_outputs` removes the file, the stage
   keeps it as its cache of batches);
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

The config and result are :mod:`~listdistill.generate.config`, the passages, batches, completions and their
cleaning :mod:`~listdistill.generate.batches`, and the runs (whole, a shard's part, merged parts, the outputs)
:mod:`~listdistill.generate.run`; the backends are :mod:`~listdistill.generate.backends`.
"""

from __future__ import annotations

from listdistill.generate.batches import (
    Checkpoint,
    batch_key,
    batch_seed,
    clean_all,
    generate_completions,
    plan_batches,
    query_id,
    read_pool,
    select_passages,
    summarise,
)
from listdistill.generate.config import SAMPLE_ROWS, GenerateConfig, GenerateResult
from listdistill.generate.run import PART_FILE, generate_part, generate_queries, merge_parts, write_outputs

__all__ = [
    "Checkpoint",
    "GenerateConfig",
    "GenerateResult",
    "PART_FILE",
    "SAMPLE_ROWS",
    "batch_key",
    "batch_seed",
    "clean_all",
    "generate_completions",
    "generate_part",
    "generate_queries",
    "merge_parts",
    "plan_batches",
    "query_id",
    "read_pool",
    "select_passages",
    "summarise",
    "write_outputs",
]
