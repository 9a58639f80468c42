"""configs/*.yaml: complete params files (exactly params.yaml's keys) that load through the stages' own reader,
listdistill.config.load_params, with no error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from listdistill.config import Params, as_dict, load_params

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    return set().union(*(keys(v, f"{prefix}{k}.") for k, v in node.items())) if node else {prefix}


def test_there_are_configs():
    assert [p.name for p in CONFIGS] >= ["paper.yaml"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_has_exactly_the_keys_of_params_yaml(config: Path):
    default, other = (yaml.safe_load(p.read_text()) for p in (ROOT / "params.yaml", config))
    assert keys(other) == keys(default), f"{config.name}: {sorted(keys(other) ^ keys(default))}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_loads_with_no_error(config: Path):
    params = load_params(config)  # raises ConfigError listing every invalid key
    assert isinstance(params, Params)
    raw = yaml.safe_load(config.read_text())
    assert keys(as_dict(params)) == keys(raw)  # every key of the file is a param, and the file sets every param


def test_paper_config_is_the_paper_setup():
    paper = load_params(ROOT / "configs" / "paper.yaml")
    assert paper.student.model == "BAAI/bge-base-en-v1.5" and paper.student.pooling == "cls"
    assert paper.generate.model == "meta-llama/Llama-3.1-8B-Instruct" and paper.generate.backend == "vllm"
    assert paper.train.list_length == paper.score.depth == 20
    assert paper.train.batch_size == 4096 and paper.train.bf16 is True
    assert paper.dataset.name.startswith("beir/")
    assert paper.device.startswith("cuda") and paper.to_encoder().device == paper.device  # GPU config, validated here
