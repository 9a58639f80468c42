"""The pipeline's configuration: one dataclass per ``params.yaml`` section, the only home of the defaults.

``load_params(path, overrides)`` reads a params file (missing keys take the defaults below), applies
``section.key=value`` overrides (``--set`` on every stage), and validates every key before any work: a key given
twice in the file (``file:line``), unknown keys, wrong types, values out of range (every number has a lower and an
upper bound), unknown choices, lists naming an item twice, faiss index specs and, for a stage
(``machine=True``), the device this machine must have, are all reported at once, each naming the file and the
key. The ``to_*`` methods build the library's own configs, every one with the resolved ``device``.

A stage reads only the sections DVC tracks for it (``STAGE_PARAMS``; ``dvc.yaml`` lists the same ones, which
tests/config/test_config.py checks), so DVC reruns exactly the stages whose params changed.

One module per concern: :mod:`~listdistill.config.sections` (the section dataclasses, their defaults, ranges and
docs), :mod:`~listdistill.config.params` (:class:`Params` and its ``to_*`` builders, the device),
:mod:`~listdistill.config.stages` (what each stage reads), :mod:`~listdistill.config.load` (reading, overrides,
types and ranges), :mod:`~listdistill.config.checks` (rules across keys, the machine) and
:mod:`~listdistill.config.docs` (docs/params.md: ``python -m listdistill.config > docs/params.md``).
"""

from __future__ import annotations

from listdistill.config.checks import check, machine_problems
from listdistill.config.docs import describe, params_markdown
from listdistill.config.load import ConfigError, apply_override, duplicate_keys, from_dict, load_params
from listdistill.config.params import Params, native_bf16, resolve_device
from listdistill.config.sections import (
    BATCH_MAX,
    COUNT_MAX,
    DEFAULT_PARAMS,
    LIST_MAX,
    SEED_MAX,
    TOKENS_MAX,
    Bm25Section,
    DatasetSection,
    EvaluateSection,
    GenerateSection,
    MineSection,
    PrepareSection,
    ProxySection,
    RealSection,
    ScoreSection,
    StudentSection,
    TeacherSection,
    TrainSection,
)
from listdistill.config.stages import GENERATE_KEYS, STAGE_PARAMS, as_dict, stage_settings

__all__ = [
    "BATCH_MAX",
    "Bm25Section",
    "COUNT_MAX",
    "ConfigError",
    "DEFAULT_PARAMS",
    "DatasetSection",
    "EvaluateSection",
    "GENERATE_KEYS",
    "GenerateSection",
    "LIST_MAX",
    "MineSection",
    "Params",
    "PrepareSection",
    "ProxySection",
    "RealSection",
    "SEED_MAX",
    "STAGE_PARAMS",
    "ScoreSection",
    "StudentSection",
    "TOKENS_MAX",
    "TeacherSection",
    "TrainSection",
    "apply_override",
    "as_dict",
    "check",
    "describe",
    "duplicate_keys",
    "from_dict",
    "load_params",
    "machine_problems",
    "native_bf16",
    "params_markdown",
    "resolve_device",
    "stage_settings",
]
