"""Reading a params file: duplicate keys, ``--set`` overrides, types, ranges and choices, every problem reported at
once."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from pathlib import Path
from typing import Any

import yaml

from listdistill.config.checks import check, machine_problems
from listdistill.config.params import Params
from listdistill.config.sections import DEFAULT_PARAMS


class ConfigError(ValueError):
    """Every invalid key of a params file, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} invalid param(s):\n" + "\n".join(f"  {p}" for p in problems))


# -- reading and validation ----------------------------------------------------------------------------------------
def load_params(
    path: str | Path = DEFAULT_PARAMS, overrides: typing.Sequence[str] = (), machine: bool = False
) -> Params:
    """The validated params of ``path`` with ``section.key=value`` overrides applied (values parsed as YAML); with
    ``machine``, also what they ask of this machine (:func:`machine_problems`), reported with the rest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        problems = duplicate_keys(yaml.compose(text), str(path))  # YAML itself keeps the last silently
        raw = yaml.safe_load(text)
    except FileNotFoundError as e:
        raise ConfigError(str(path), ["the params file does not exist"]) from e
    except UnicodeDecodeError as e:
        problem = f"expected UTF-8 text, got byte {e.object[e.start]:#04x} at offset {e.start}"
        raise ConfigError(str(path), [problem]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(where, [f"not valid YAML: {getattr(e, 'problem', None) or e}"]) from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [f"expected a mapping of sections, got {type(raw).__name__}"])
    for item in overrides:
        apply_override(raw, item, problems)
    params = from_dict(raw, problems)
    problems += check(params)
    if machine:
        problems += machine_problems(params)
    if problems:
        raise ConfigError(str(path) + (" (with --set)" if overrides else ""), problems)
    return params


def duplicate_keys(node: yaml.Node | None, source: str, prefix: str = "") -> list[str]:
    """One problem per key given twice in a mapping of the composed YAML ``node`` (at any depth), naming
    ``source:line`` of the repeat and the line of the first; PyYAML itself keeps the last value silently."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = f"{prefix}{key.value}"
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.value in first:
                problems.append(f"{name}: given twice, at {source}:{first[key.value]} and {source}:{line}; keep one")
            elif isinstance(key, yaml.ScalarNode):
                first[key.value] = line
            problems += duplicate_keys(value, source, f"{name}.")
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += duplicate_keys(item, source, prefix)
    return problems


def apply_override(raw: dict[str, Any], item: str, problems: list[str]) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        problems.append(f"--set {item!r}: expected section.key=value")
        return
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"--set {item!r}: {part} is not a section")
            return
    node[leaf] = _yaml_value(value)


def _yaml_value(text: str) -> Any:
    """A ``--set`` value parsed as YAML (numbers, booleans, lists); text YAML would read as a mapping or cannot
    parse (``student.query_prefix=query: ``) stays the plain string."""
    if not text.strip():
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict) else value


def from_dict(raw: dict[str, Any], problems: list[str], cls: type = Params, prefix: str = "") -> Any:
    """Build ``cls`` from ``raw``, appending one line per unknown key, wrong type or bad value to ``problems``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known: {', '.join(fields)}"
            problems.append(f"{name}: unknown key{hint}")
            continue
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                problems.append(f"{name}: expected a section (a mapping), got {value!r}")
                continue
            values[key] = from_dict(value, problems, typing.cast(type, kind), f"{name}.")
            continue
        ok, converted, expected = _convert(value, kind, fields[key].metadata)
        if ok:
            values[key] = converted
        else:
            problems.append(f"{name}: expected {expected}, got {value!r}")
    return cls(**values)


def _convert(value: Any, kind: Any, meta: typing.Mapping[str, Any]) -> tuple[bool, Any, str]:
    """(valid, converted value, description of what is valid) for one value of type ``kind``."""
    if kind is str and meta.get("choices"):
        choices = meta["choices"]
        return value in choices, value, f"one of {', '.join(choices)}"
    if kind is str:
        return isinstance(value, str), value, "a string"
    if kind is bool:
        return isinstance(value, bool), value, "true or false"
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and _in_range(value, meta), value, "an integer" + _range_text(meta, value if ok else None)
    if kind is float:
        number = _number(value)
        return number is not None and _in_range(number, meta), number, "a number" + _range_text(meta, number)
    if kind == (float | str):  # a number or auto
        if value == "auto":
            return True, value, ""
        number = _number(value)
        return (number is not None and _in_range(number, meta), number,
                "auto or a number" + _range_text(meta, number))  # fmt: skip
    if kind == (bool | str):  # true, false or auto
        return isinstance(value, bool) or value == "auto", value, "true, false or auto"
    if typing.get_origin(kind) is list:
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value) and len(value) > 0
        if ok and len(set(value)) != len(value):
            twice = next(v for i, v in enumerate(value) if v in value[:i])
            return False, value, f"a non-empty list of distinct names ({twice!r} is listed twice)"
        return ok, list(value) if ok else value, "a non-empty list of names"
    raise TypeError(f"no converter for {kind}")  # a schema error, not a user's


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:  # YAML reads 1e-4 (no dot) as a string
        number = float(value)
    except (ValueError, OverflowError):  # not a number; an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


def _in_range(x: float, meta: typing.Mapping[str, Any]) -> bool:
    lo, hi, cap = meta.get("lo"), meta.get("hi"), meta.get("cap")
    if cap is not None and x > cap:
        return False
    if lo is not None and (x <= lo if meta.get("lo_open") else x < lo):
        return False
    return not (hi is not None and (x >= hi if meta.get("hi_open") else x > hi))


def _range_text(meta: typing.Mapping[str, Any], value: float | None = None) -> str:
    """The valid range (``>= 1``, ``> 0 and <= 1``); the cap only for a value above it (``<= 10000``)."""
    lo, hi, cap = meta.get("lo"), meta.get("hi"), meta.get("cap")
    if value is not None and cap is not None and value > cap:
        return f" <= {cap:g}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('lo_open') else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if meta.get('hi_open') else '<='} {hi:g}")
    return f" {' and '.join(parts)}" if parts else ""
