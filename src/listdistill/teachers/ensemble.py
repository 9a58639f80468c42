"""A weighted sum of per-list normalised scores of other teachers (``0.5*bm25+0.5*dense``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from listdistill.records import Doc
from listdistill.teachers.base import Candidates, Teacher, normalise_list

_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([a-z_0-9]+(?::\S+)?)\s*$")


def parse_ensemble(spec: str, kinds: Sequence[str]) -> list[tuple[float, str]]:
    """``"0.7*bm25+0.3*dense"`` -> [(0.7, "bm25"), (0.3, "dense")]; a bare kind has weight 1. When ``dense`` is
    a kind, so is ``dense:<model-ref>`` (another encoder: ``0.5*bm25+0.5*dense:packaged:all-mpnet-base-v2``)."""
    terms = []
    for part in spec.split("+"):
        m = _TERM.match(part)
        if not m:
            raise ValueError(f"ensemble term {part!r} in {spec!r} is not '<weight>*<kind>' or '<kind>'")
        weight, kind = float(m.group(1) or 1.0), m.group(2)
        if kind not in kinds and not (kind.startswith("dense:") and "dense" in kinds):
            raise ValueError(f"ensemble term {part!r}: unknown kind {kind!r}; use one of {list(kinds)}")
        terms.append((weight, kind))
    if len({k for _, k in terms}) != len(terms):
        raise ValueError(f"a kind repeats in ensemble {spec!r}")
    if not any(w != 0 for w, _ in terms):
        raise ValueError(f"ensemble {spec!r} has no nonzero weight")
    return terms


class EnsembleTeacher(Teacher):
    """score = sum_i w_i * normalise(score_i) per list; ``zscore`` or ``minmax`` normalisation (see
    :func:`listdistill.teachers.base.normalise_list`)."""

    name = "ensemble"

    def __init__(self, members: Sequence[tuple[float, Teacher]], normalise: str = "zscore") -> None:
        normalise_list(np.zeros(1), normalise)  # validates the method name
        self.members = list(members)
        self.normalise = normalise

    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        total = [np.zeros(len(c.doc_ids)) for c in lists]
        for weight, teacher in self.members:
            if weight == 0:
                continue
            for acc, s in zip(total, teacher.score(lists, docs), strict=True):
                acc += weight * normalise_list(s, self.normalise)
        return total
