"""configs/*.yaml: complete params files (the same keys as params.yaml) whose values every stage accepts."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from listdistill.losses import LOSSES

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
INTERP = re.compile(r"\$\{([^}]+)\}")


def keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    return set().union(*(keys(v, f"{prefix}{k}.") for k, v in node.items())) if node else {prefix}


def lookup(params: dict, key: str) -> object:
    for part in key.split("."):
        params = params[part]
    return params


def render(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)  # DVC writes booleans as true/false


def rendered_commands(params: dict) -> dict[str, list[str]]:
    """Each stage's command with the params filled in, as DVC renders it (foreach over generate.types)."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    out = {}
    for name, stage in dvc["stages"].items():
        items = [None]
        if "foreach" in stage:
            items, stage = lookup(params, INTERP.fullmatch(stage["foreach"]).group(1)), stage["do"]
        for item in items:
            cmd = stage["cmd"].replace("${item}", str(item))
            cmd = INTERP.sub(lambda m: render(lookup(params, m.group(1))), cmd)
            out[f"{name}@{item}" if item else name] = shlex.split(cmd)
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_has_exactly_the_keys_of_params_yaml(config: Path):
    default, other = (yaml.safe_load(p.read_text()) for p in (ROOT / "params.yaml", config))
    assert keys(other) == keys(default), f"{config.name}: {sorted(keys(other) ^ keys(default))}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_stage_accepts_the_config_values(config: Path):
    params = yaml.safe_load(config.read_text())
    assert params["loss"] in LOSSES
    for stage, argv in rendered_commands(params).items():
        assert argv[:2] == ["python", "-m"], stage
        command: click.Command = importlib.import_module(argv[2]).main
        options = {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        args = argv[3:]
        for i, arg in enumerate(args):
            if not arg.startswith("--"):
                continue
            assert arg in options, f"{config.name}: stage {stage} has no option {arg}"
            param = options[arg]
            if param.is_flag or isinstance(param.type, click.Path):
                continue
            param.type.convert(args[i + 1], param, None)  # raises click.BadParameter on a bad choice or number


def test_paper_config_is_the_paper_setup():
    paper = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    assert paper["student"]["model"] == "BAAI/bge-base-en-v1.5" and paper["student"]["pooling"] == "cls"
    assert paper["generate"]["model"] == "meta-llama/Llama-3.1-8B-Instruct" and paper["generate"]["backend"] == "vllm"
    assert paper["train"]["list_length"] == paper["score"]["depth"] == 20
    assert paper["train"]["batch_size"] == 4096 and paper["train"]["bf16"] is True
    assert paper["dataset"]["name"].startswith("beir/")
