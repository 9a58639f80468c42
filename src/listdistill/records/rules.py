"""The rules for ids and text, stated once for the readers and the raw collection loaders; the float precision
of the writers; the natural order of ids."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Iterable

from listdistill.io import FormatError

PRECISION = 6  # decimals of the teacher and raw scores in scored lists and of the scores in TREC runs


# ------------------------------------------------------------------------------------- ids, text and judgments
BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # letters and symbols that render as nothing
_INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")  # control, format (zero-width, BOM, soft hyphen) and space categories


def _invisible(c: str) -> bool:
    return c.isspace() or c in BLANK_FILLERS or unicodedata.category(c) in _INVISIBLE


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: only whitespace, control and format characters (zero-width spaces and
    joiners, the byte-order mark, soft hyphens: Unicode categories Cc, Cf and Z*) and blank fillers (U+3164)."""
    return all(_invisible(c) for c in text)


def _describe(c: str) -> str:
    name = unicodedata.name(c, "").lower() or "control character"
    return f"{name} U+{ord(c):04X}"


def id_problem(value: object) -> str | None:
    """What an id must be, when ``value`` is not a valid one (None when it is). Ids are non-empty strings without
    whitespace, control or format characters (nor lone surrogates), so that every line format (qrels, runs,
    ``perquery.tsv``) carries them as one field and they print as they are (docs/formats.md)."""
    if not isinstance(value, str) or is_blank(value):
        return "a non-empty string"
    for i, c in enumerate(value, start=1):
        if _invisible(c) or unicodedata.category(c) == "Cs":
            return f"an id without whitespace, control or format characters (it holds {_describe(c)} at character {i})"
    return None


def check_id(value: object, key: str, where: str) -> str:
    """``value`` as an id (:func:`id_problem`), else :class:`FormatError` naming ``where`` and ``key``."""
    problem = id_problem(value)
    if problem is not None:
        raise FormatError(f"{where}: expected {key!r} to be {problem}, got {json.dumps(value)}")
    return str(value)


def check_text(value: str, key: str, where: str, empty: bool = True) -> str:
    """``value`` as text: no lone surrogate (a JSON ``\\ud800`` escape, which no file can hold), and unless
    ``empty``, not :func:`is_blank`."""
    if not empty and is_blank(value):
        shown = "" if not value else f" (only {', '.join(sorted({_describe(c) for c in value}))})"
        raise FormatError(f"{where}: expected {key!r} to be a non-empty string, got {json.dumps(value)}{shown}")
    bad = next((i for i, c in enumerate(value, start=1) if unicodedata.category(c) == "Cs"), None)
    if bad is not None:
        raise FormatError(f"{where}: expected {key!r} to be Unicode text, got a lone surrogate at character {bad}")
    return value


class UniqueIds:
    """Remembers where each id was first seen, so that a repeat names both places."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: dict[str, str] = {}

    def add(self, value: str, where: str) -> None:
        if value in self.seen:
            raise FormatError(f"{where}: expected a unique {self.key}, {value!r} repeats {self.seen[value]}")
        self.seen[value] = where


def check_known(ids: Iterable[str], known: Collection[str] | None, what: str, where: str) -> None:
    """Every id of ``ids`` among ``known`` (skipped when None), else :class:`FormatError` naming the first missing."""
    if known is None:
        return
    missing = [i for i in ids if i not in known]
    if missing:
        more = f" ({len(missing)} such ids)" if len(missing) > 1 else ""
        raise FormatError(f"{where}: expected {what}, got {missing[0]!r}{more}")


def natural_key(key: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the rest in string order."""
    return (0, int(key)) if key.isdigit() else (1, key)
