"""Library configs for tests, built from the one definition of every default (``listdistill.config.Params``) the way
the stages build them (``Params.to_*``), with a test's own settings on top: the library configs have no defaults of
their own. Everything runs on the CPU in float32 unless a test says otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from listdistill.config import Params
from listdistill.data import DatasetSpec
from listdistill.encoder import EncoderConfig
from listdistill.evaluate.proxy import ProxyConfig
from listdistill.generate import GenerateConfig
from listdistill.losses import LossConfig
from listdistill.mine.candidates import MineConfig
from listdistill.score.lists import ScoreConfig
from listdistill.score.real import RealConfig
from listdistill.teachers import TeacherConfig, TeacherResources
from listdistill.train import TrainConfig

CPU = Params(device="cpu")
GENERATOR = CPU.generate.model  # the default generator (a packaged GGUF)


def encoder_config(**changes: Any) -> EncoderConfig:
    return dataclasses.replace(CPU.to_encoder(), **{"dtype": "float32", **changes})


def generate_config(query_type: str, **changes: Any) -> GenerateConfig:
    return dataclasses.replace(CPU.to_generate(query_type), **changes)


def teacher_config(**changes: Any) -> TeacherConfig:
    return dataclasses.replace(CPU.to_teacher(), **changes)


def teacher_resources(**changes: Any) -> TeacherResources:
    """No index and the CPU student unless given."""
    return dataclasses.replace(CPU.to_resources(None, None, [], encoder_config()), **changes)


def mine_config(**changes: Any) -> MineConfig:
    return dataclasses.replace(CPU.to_mine(), **changes)


def score_config(**changes: Any) -> ScoreConfig:
    return dataclasses.replace(CPU.to_score(), **changes)


def real_config(**changes: Any) -> RealConfig:
    return dataclasses.replace(CPU.to_real(), **changes)


def proxy_config(**changes: Any) -> ProxyConfig:
    return dataclasses.replace(CPU.to_proxy(), **changes)


def dataset_spec(name: str, cache_dir: str | Path = ".cache/datasets", **changes: Any) -> DatasetSpec:
    """``name`` with ``dataset``'s defaults (``fields`` as a :class:`Fields`)."""
    return dataclasses.replace(CPU.to_dataset(str(cache_dir)), name=name, **changes)


def loss_config(**changes: Any) -> LossConfig:
    """The ``train`` section's loss settings (the teacher temperature as configured), with ``changes``."""
    return dataclasses.replace(CPU.to_losses(float(CPU.train.teacher_temperature)), **changes)


def train_config(**changes: Any) -> TrainConfig:
    """The default params' training config in float32, with ``changes`` (``losses`` as a dict of
    :class:`LossConfig` changes or a whole :class:`LossConfig`)."""
    losses = changes.pop("losses", {})
    cfg = dataclasses.replace(CPU.to_train("cpu", checkpoint_every=10), **{"bf16": False, **changes})
    return dataclasses.replace(cfg, losses=losses if isinstance(losses, LossConfig) else loss_config(**losses))
