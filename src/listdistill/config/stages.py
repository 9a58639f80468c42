"""The sections and top-level keys each stage reads (``STAGE_PARAMS``; ``dvc.yaml`` lists the same), and a stage's
settings as plain values."""

from __future__ import annotations

import dataclasses
from typing import Any

from listdistill.config.params import Params
from listdistill.config.sections import GenerateSection

# Sections and top-level keys each stage reads; dvc.yaml's `params:` lists the same (tests/config/test_config.py).
# what one type's generation reads (the proxy stage's too): not the list of types, nor how many run at once
GENERATE_KEYS = tuple(
    f"generate.{f.name}" for f in dataclasses.fields(GenerateSection) if f.name not in ("types", "workers")
)
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "prepare": ("seed", "dataset", "prepare", "student.model", "proxy.heldout"),
    "index": ("device", "student"),
    "generate": ("seed", "device", "generate"),
    "mine": ("device", "student", "bm25", "mine"),
    "score": ("seed", "device", "student", "bm25", "teacher", "score"),
    "real": (
        "seed",
        "device",
        "student",
        "bm25",
        "teacher",
        "real",
        "mine.k",
        "mine.rrf_k",
        "score.depth",
        "score.norm_low",
        "score.norm_high",
        "score.dev_fraction",
    ),  # fmt: skip
    "mix": ("query_mix", "generate.types"),
    "train": ("seed", "device", "loss", "query_mix", "student", "train"),
    "evaluate": ("seed", "device", "student", "bm25", "teacher", "score.depth", "mine.rrf_k", "evaluate"),
    "proxy": (
        "seed",
        "device",
        *GENERATE_KEYS,
        "student",
        "bm25",
        "mine",
        "teacher",
        "score.depth",
        "score.norm_low",
        "score.norm_high",
        "proxy",
    ),  # fmt: skip
    "report": (
        "dataset.name",
        "generate.model",
        "student.model",
        "student.query_max_length",
        "student.passage_max_length",
        "teacher",
    ),  # fmt: skip
}


def as_dict(p: Params) -> dict[str, Any]:
    return dataclasses.asdict(p)


def stage_settings(p: Params, stage: str) -> dict[str, Any]:
    """The values of the params ``stage`` reads (``STAGE_PARAMS``), for fingerprints and records."""
    out: dict[str, Any] = {}
    for key in STAGE_PARAMS[stage]:
        node: Any = p
        for part in key.split("."):
            node = getattr(node, part)
        out[key] = dataclasses.asdict(node) if dataclasses.is_dataclass(node) and not isinstance(node, type) else node
    return out
