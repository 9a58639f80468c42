"""What a stage cost: CPU seconds, wall seconds and peak resident memory of its whole process.

A stage run with ``--cost FILE`` writes, when it succeeds, ``{"cpu_s", "wall_s", "peak_rss_mb", "threads"}`` for its
whole process from start to exit (imports, model loading and the JVM included; child processes' CPU added):
``cpu_s`` is user + system time, ``wall_s`` the time since the process started, ``peak_rss_mb`` the largest
resident set of the process or of any child, ``threads`` the CPU threads torch was allowed (``OMP_NUM_THREADS``).
These files are kept apart from the results (``metrics/cost/``) because they differ from run to run; the results
must reproduce byte for byte, the costs cannot.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from listdistill.io import write_json


def process_cost() -> dict[str, Any]:
    """The cost of this process so far (see the module docstring)."""
    import psutil
    import torch

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    wall = time.time() - psutil.Process().create_time()
    rss_kb = max(own.ru_maxrss, kids.ru_maxrss)  # kilobytes on Linux
    return {
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(rss_kb / 1024),
        "threads": torch.get_num_threads(),
    }


def write_cost(path: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write :func:`process_cost` (plus ``extra``) as JSON to ``path`` (replaced atomically); return it."""
    cost = {**process_cost(), **(extra or {})}
    write_json(path, cost)  # io.atomic_open: a unique temporary sibling, renamed over path
    return cost
