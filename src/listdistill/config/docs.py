"""docs/params.md and params.yaml, generated from the fields' defaults, ranges and docs (the one source)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import typing
from typing import Any

import yaml

from listdistill.config.load import _range_text
from listdistill.config.params import Params


def describe(cls: type = Params, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, doc) of every param."""
    return [(key, default, doc) for key, default, doc, _ in _fields(cls, prefix)]


def params_markdown() -> str:
    """docs/params.md: every param with its default, valid values and doc, from the fields above (the one source;
    ``python -m listdistill.config > docs/params.md`` rewrites it, tests/config/test_config.py checks that it
    agrees)."""
    lines = [
        "# Params",
        "",
        "Every key of `params.yaml`, its default, its valid values and what it does. Generated from the fields of",
        "`src/listdistill/config/sections.py` (the only home of the defaults) by",
        "`python -m listdistill.config > docs/params.md`; a test checks that this file agrees with it.",
        "",
        "| key | default | valid | what it does |",
        "|---|---|---|---|",
    ]
    for key, default, doc, meta in _fields(Params):
        valid = " ".join(f"`{c}`" for c in meta.get("choices", ())) or _range_text(meta).strip()
        shown = json.dumps(default)
        cells = [f"`{key}`", f"`{shown}`", valid, doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


# params.yaml's layout: a comment starts at this column, no line is longer than WIDTH.
COMMENT_COLUMN = 29
WIDTH = 118


def params_yaml() -> str:
    """params.yaml: every param with its default, a comment from its doc, each section with its docstring above it
    (``python -m listdistill.config params-yaml > params.yaml`` rewrites it; tests/config/test_docs.py checks that the
    committed file agrees)."""
    lines = _wrap_block(
        "Every param with its default; generated from src/listdistill/config/sections.py by `python -m "
        "listdistill.config params-yaml > params.yaml` (docs/params.md lists the valid values). The top-level keys "
        "are the ones flipped often: dvc exp run -S seed=1"
    )
    return "\n".join(lines + yaml_lines(Params(), "")) + "\n"


def yaml_lines(section: Any, indent: str = "") -> list[str]:
    """The YAML lines of a section instance: a key per field (nested sections under their key, their docstring
    above it), its value, and its doc as a comment from :data:`COMMENT_COLUMN`, wrapped at :data:`WIDTH`."""
    lines: list[str] = []
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            lines += ["", *_wrap_block(type(value).__doc__ or ""), f"{indent}{f.name}:"]
            lines += yaml_lines(value, indent + "  ")
            continue
        key = f"{indent}{f.name}: {_yaml_scalar(value)}"
        first = key.ljust(COMMENT_COLUMN - 2) + "  # "
        lines += textwrap.wrap(f.metadata["doc"], WIDTH, initial_indent=first, break_long_words=False,
                               subsequent_indent=" " * COMMENT_COLUMN + "# ", break_on_hyphens=False)  # fmt: skip
    return lines


def _wrap_block(text: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent="# ", subsequent_indent="# ",
                         break_long_words=False, break_on_hyphens=False)  # fmt: skip


def _yaml_scalar(value: Any) -> str:
    """``value`` as YAML flow text on one line (lists in brackets; strings quoted only where YAML needs it)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2**20).strip()
    return text.removesuffix("...").strip()


def _fields(cls: type, prefix: str = "") -> list[tuple[str, Any, str, typing.Mapping[str, Any]]]:
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows += _fields(type(value), f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", value, f.metadata.get("doc", ""), f.metadata))
    return rows
