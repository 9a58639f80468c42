"""dvc.yaml wiring: each stage lists exactly the params its command reads, and outputs feed later stages."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
INTERP = re.compile(r"\$\{([^}]+)\}")


def lookup(key: str):
    node = PARAMS
    for part in key.split("."):
        node = node[part]
    return node


def expanded_stages() -> dict[str, dict]:
    """Stages with foreach/matrix expanded over the params they iterate on."""
    out = {}
    for name, stage in DVC["stages"].items():
        if "foreach" in stage:
            items = stage["foreach"]
            if isinstance(items, str):
                items = lookup(INTERP.fullmatch(items).group(1))
            for item in items:
                body = yaml.safe_dump(stage["do"]).replace("${item}", str(item)).replace("${key}", str(item))
                out[f"{name}@{item}"] = yaml.safe_load(body)
        else:
            out[name] = stage
    return out


STAGES = expanded_stages()


def param_keys(stage: dict) -> set[str]:
    keys = set()
    for p in stage.get("params", []):
        keys.update(p if isinstance(p, dict) else [p])
    return keys


def test_each_stage_lists_exactly_the_params_its_command_reads():
    for name, stage in STAGES.items():
        used = set(INTERP.findall(stage["cmd"]))
        if "--params params.yaml" in stage["cmd"]:  # lists, which DVC cannot interpolate, are read from the file
            used |= {k for k in param_keys(stage) if isinstance(lookup(k), list)}
        assert used == param_keys(stage), f"stage {name}: cmd reads {sorted(used)}, lists {sorted(param_keys(stage))}"
        for key in used:
            lookup(key)  # every key exists in params.yaml


def test_no_code_reads_params_yaml_directly():
    for path in list((ROOT / "stages").glob("*.py")) + list((ROOT / "src").rglob("*.py")):
        assert "params.yaml" not in path.read_text(), f"{path} reads params.yaml; pass params in cmd instead"


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def test_data_deps_are_produced_and_outs_are_consumed():
    outs = {name: _paths(s.get("outs")) for name, s in STAGES.items()}
    deps = {name: _paths(s.get("deps")) for name, s in STAGES.items()}
    for name, ds in deps.items():
        for d in ds:
            if d.startswith(("data/", "models/")):
                producers = [n for n, os_ in outs.items() if any(_overlaps(d, o) for o in os_)]
                assert producers, f"stage {name}: dep {d} is produced by no stage"
    consumed_anywhere = [d for ds in deps.values() for d in ds]
    for name, os_ in outs.items():
        for o in os_:
            if not o.startswith(("data/", "models/")) or o.startswith(("data/eval", "data/generated/dropped")):
                continue  # metrics, plots and reports for people, not inputs
            assert any(_overlaps(o, d) for d in consumed_anywhere), f"stage {name}: out {o} is used by no stage"


def test_stage_commands_are_module_entry_points_that_exist():
    for name, stage in STAGES.items():
        m = re.match(r"python -m (stages\.\w+)", stage["cmd"])
        assert m, f"stage {name}: cmd should run `python -m stages.<name>`"
        assert (ROOT / (m.group(1).replace(".", "/") + ".py")).is_file()
