"""The generation config (every field a ``generate`` param, built by ``Params.to_generate``) and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from listdistill.generate.backends import SamplingConfig
from listdistill.generate.catalog import QueryType
from listdistill.records import (
    GeneratedQuery,
)

SAMPLE_ROWS = 20  # rows of the sample table (first passages in doc-id order, kept and dropped)


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
