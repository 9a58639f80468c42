"""docs/params.md, generated from the fields' defaults, ranges and docs."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

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
