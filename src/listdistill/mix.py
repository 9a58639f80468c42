"""The training mix: the scored lists of exactly the query types in ``query_mix``, copied byte for byte.

The ``mix`` stage sits between ``score`` (one folder per type under ``data/scored``) and ``train``: DVC reruns it
whenever any type's lists change, but its output changes only when a type in the mix changed, so generating a
type outside the mix never reruns training, and a type dropped from ``generate.types`` cannot be trained on.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from listdistill.atomic import stage_outputs
from listdistill.records import read_scored

SPLITS = ("train.jsonl", "dev.jsonl")


def copy_mix(scored: Path, mix: Sequence[str], out: Path) -> dict[str, int]:
    """Copy ``<scored>/<type>/{train,dev}.jsonl`` of each type in ``mix`` to ``<out>/<type>/`` as one set
    (:func:`~listdistill.atomic.stage_outputs`), each file checked first (:func:`~listdistill.records.read_scored`:
    the records, and every one of its folder's type). Returns the lines copied per type."""
    missing = [str(scored / t / s) for t in mix for s in SPLITS if not (scored / t / s).is_file()]
    if missing:
        raise FileNotFoundError(f"query_mix names types whose scored lists do not exist: {', '.join(missing)}")
    for t in mix:
        for split in SPLITS:
            read_scored(scored / t / split, query_type=t)
    counts = {}
    with stage_outputs(out) as (tmp,):
        for t in mix:
            (tmp / t).mkdir(parents=True)
            for split in SPLITS:
                shutil.copyfile(scored / t / split, tmp / t / split)
            counts[t] = sum(1 for _ in (tmp / t / "train.jsonl").open(encoding="utf-8"))
    return counts
