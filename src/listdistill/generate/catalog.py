"""The query-type catalog: one YAML file per type under ``types/``.

Each file holds the type's instruction (the system message), a short per-passage request, the labels a model
tends to prefix its answer with (stripped when cleaning), optional post-processing (lower-casing, a cap on the
number of comma-separated items) and a handful of few-shot examples (short domain-neutral passages with the
output we want). One file per type keeps the types independent: a type's batches are keyed by its own
prompts, so editing one file regenerates that type alone (the other types' batches come from the stage's
cache, :mod:`.parallel`), and the ``mine@<type>`` and ``score@<type>`` stages of the others do not rerun.

A type with ``kind: extract`` needs no language model: its queries are sentences or word spans of the passage
itself (:mod:`.extract`; the inverse cloze task), set by ``per_passage``, ``min_words`` and ``max_words``.

Types follow Tamber et al. (2025), "Improving Dense Retrieval with Listwise Distillation and Diverse Synthetic
Queries": questions, claims, titles, keywords, search-engine queries and random-aspect queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from listdistill.generate.extract import ExtractConfig

TYPES_DIR = Path(__file__).parent / "types"


class UnknownQueryTypeError(ValueError):
    """A query type with no catalog file."""


@dataclass(frozen=True)
class Example:
    passage: str
    output: str


@dataclass(frozen=True)
class QueryType:
    name: str
    instruction: str  # system message
    request: str  # appended to every passage in the user turn
    examples: tuple[Example, ...]
    labels: tuple[str, ...] = ()  # answer prefixes such as "Question:" stripped when cleaning
    lowercase: bool = False
    max_items: int | None = None  # keep at most this many comma-separated items (keywords)
    max_words: int | None = None  # the type's own word cap (terse search queries, long needs); None: the global cap
    max_new_tokens: int | None = None  # the type's own generation budget; None: generate.max_new_tokens
    first_sentence: bool = False  # keep the first sentence only (claims)
    description: str = ""
    kind: str = "llm"  # llm: written by the generator | extract: cut from the passage (no model)
    extract: ExtractConfig | None = None  # kind extract: how many spans of what length


def available_types(types_dir: Path = TYPES_DIR) -> list[str]:
    return sorted(p.stem for p in types_dir.glob("*.yaml"))


def type_file(name: str, types_dir: Path = TYPES_DIR) -> Path:
    path = types_dir / f"{name}.yaml"
    if not path.is_file():
        raise UnknownQueryTypeError(
            f"unknown query type {name!r}: no {path}; available: {', '.join(available_types(types_dir)) or 'none'}"
        )
    return path


def load_type(name: str, types_dir: Path = TYPES_DIR) -> QueryType:
    """Load one query type, checking its fields; raise UnknownQueryTypeError for a name with no file."""
    path = type_file(name, types_dir)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping")
    kind = raw.get("kind", "llm")
    if kind == "extract":
        known = set(ExtractConfig.__dataclass_fields__)
        try:
            cfg = ExtractConfig(**{k: int(raw[k]) for k in known if k in raw})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {sorted(known)} must be integers") from e
        if cfg.passages < 0 or cfg.per_passage < 1 or not 1 <= cfg.min_words <= cfg.max_words:
            raise ValueError(f"{path}: need passages >= 0, per_passage >= 1, 1 <= min_words <= max_words; got {cfg}")
        return QueryType(name, "", "", (), description=_text(raw.get("description", "")), kind=kind, extract=cfg)
    if kind != "llm":
        raise ValueError(f"{path}: kind must be 'llm' or 'extract', got {kind!r}")
    for key in ("instruction", "request", "examples"):
        if not raw.get(key):
            raise ValueError(f"{path}: missing key {key!r}")
    examples = tuple(_example(path, i, e) for i, e in enumerate(raw["examples"]))
    max_items, max_words, budget = raw.get("max_items"), raw.get("max_words"), raw.get("max_new_tokens")
    return QueryType(
        name=name,
        instruction=_text(raw["instruction"]),
        request=_text(raw["request"]),
        examples=examples,
        labels=tuple(str(x) for x in raw.get("labels") or ()),
        lowercase=bool(raw.get("lowercase", False)),
        max_items=int(max_items) if max_items else None,
        max_words=int(max_words) if max_words else None,
        max_new_tokens=int(budget) if budget else None,
        first_sentence=bool(raw.get("first_sentence", False)),
        description=_text(raw.get("description", "")),
    )


def _example(path: Path, i: int, e: Any) -> Example:
    if not isinstance(e, dict) or not e.get("passage") or not e.get("output"):
        raise ValueError(f"{path}: examples[{i}] needs 'passage' and 'output'")
    return Example(_text(e["passage"]), _text(e["output"]))


def _text(value: Any) -> str:
    return " ".join(str(value).split())
