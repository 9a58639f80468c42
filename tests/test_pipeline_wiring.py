"""dvc.yaml wiring: each stage tracks exactly the params it reads (config.STAGE_PARAMS), depends on every project
module it imports, and its data outputs feed later stages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from listdistill.config import STAGE_PARAMS, Params, load_params

ROOT = Path(__file__).resolve().parents[1]
DVC_TEXT = (ROOT / "dvc.yaml").read_text()
VARS = {k: v for d in yaml.safe_load(DVC_TEXT)["vars"] for k, v in d.items()}
INTERP = re.compile(r"\$\{([^}]+)\}")


def expanded_stages() -> dict[str, dict]:
    """Stages with vars filled in and foreach expanded over generate.types (of params.yaml)."""
    text = INTERP.sub(lambda m: str(VARS.get(m.group(1), m.group(0))), DVC_TEXT)
    out = {}
    for name, stage in yaml.safe_load(text)["stages"].items():
        if "foreach" in stage:
            assert stage["foreach"] == "${generate.types}"
            for item in load_params(ROOT / "params.yaml").generate.types:
                out[f"{name}@{item}"] = yaml.safe_load(yaml.safe_dump(stage["do"]).replace("${item}", item))
        else:
            out[name] = stage
    return out


STAGES = expanded_stages()


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def test_stages_are_exactly_the_config_stages():
    assert {n.split("@")[0] for n in STAGES} == set(STAGE_PARAMS)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_tracks_the_params_it_reads(name: str):
    stage = STAGES[name]
    assert stage["params"] == list(STAGE_PARAMS[name.split("@")[0]])
    assert "--params params.yaml" in stage["cmd"]
    assert not INTERP.search(stage["cmd"]), f"{name}: values belong in params.yaml, read by the stage"


def test_every_listed_param_exists():
    p = Params()
    for keys in STAGE_PARAMS.values():
        for key in keys:
            node = p
            for part in key.split("."):
                node = getattr(node, part)  # AttributeError: a listed key the schema lacks


def test_one_type_stages_do_not_track_the_type_list():
    """Adding a type must not rerun the other types' mining and scoring, nor the proxy set's generation (the
    generate stage runs every type: its batch cache keeps the others' generations)."""
    for stage in ("mine", "score", "proxy"):
        assert not {"generate", "generate.types", "generate.workers"} & set(STAGE_PARAMS[stage])


def imported_project_files(module: str) -> list[str]:
    code = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(m.__file__ for n, m in list(sys.modules.items()) "
        "if n.split('.')[0] in ('listdistill', 'stages') and getattr(m, '__file__', None))))"
    )
    out = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True, text=True, check=True)
    return [str(Path(f).resolve().relative_to(ROOT)) for f in json.loads(out.stdout)]


@pytest.mark.parametrize("stage", sorted(STAGE_PARAMS))
def test_deps_cover_the_project_modules_a_stage_imports(stage: str):
    name = next(n for n in STAGES if n.split("@")[0] == stage)
    deps = _paths(STAGES[name]["deps"])
    markers = ("stages/__init__.py", "src/listdistill/__init__.py")  # empty package markers
    imported = [f for f in imported_project_files(f"stages.{stage}") if f not in markers]
    missing = [f for f in imported if not any(_overlaps(f, d) for d in deps)]
    assert not missing, f"stage {stage} imports modules it does not depend on: {missing}"


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
            if o == "models/student":
                continue  # the model the user gets, with its card (the report stage)
            assert any(_overlaps(o, d) for d in consumed_anywhere), f"stage {name}: out {o} is used by no stage"


def test_stage_commands_are_module_entry_points_that_exist():
    for name, stage in STAGES.items():
        m = re.match(r"python -m (stages\.\w+)", stage["cmd"])
        assert m, f"stage {name}: cmd should run `python -m stages.<name>`"
        assert (ROOT / (m.group(1).replace(".", "/") + ".py")).is_file()


def test_only_the_config_module_reads_params_files():
    for path in list((ROOT / "stages").glob("*.py")) + list((ROOT / "src").rglob("*.py")):
        if path.name in ("config.py", "options.py") or path.parent.name == "config":
            continue
        text = path.read_text()
        assert "yaml.safe_load" not in text or path.parent.name == "generate", f"{path} parses YAML params itself"


# Fields of library configs that are not params (each keeps its own default); every other field is a param and
# has no default in the library, so ``Params`` is the only place a default lives and a stage can only get its
# configs (with the resolved device) from ``Params.to_*``.
NOT_PARAMS = {
    "EncoderConfig": {"normalize"},
    "TeacherConfig": {"prompt"},
    "MineConfig": {"recall_cutoffs"},
    "TeacherResources": {"embedding_cache"},
}
BUILDERS = [
    ("to_encoder", ()), ("to_teacher", ()), ("to_mine", ()), ("to_score", ()), ("to_real", ()), ("to_proxy", ()),
    ("to_losses", (0.1,)), ("to_train", ("cpu", 10)), ("to_resources", (None, None, [])), ("to_dataset", ("c",)),
]  # fmt: skip


@pytest.mark.parametrize(("builder", "args"), BUILDERS)
def test_library_configs_have_no_defaults_of_their_own(builder: str, args: tuple):
    import dataclasses

    from listdistill.config import Params

    built = getattr(Params(), builder)(*args)
    kind = type(built).__name__
    own = {f.name for f in dataclasses.fields(built) if f.default is not dataclasses.MISSING
           or f.default_factory is not dataclasses.MISSING}  # fmt: skip
    assert own == NOT_PARAMS.get(kind, set()), f"{kind} keeps its own defaults for {sorted(own)}"


def test_stages_build_library_configs_only_through_params():
    """What each stage passes comes from ``Params.to_*``: a stage calling a library config's constructor would have
    to restate every param (none has a default), which this catches by name."""
    import ast

    classes = {"EncoderConfig", "TeacherConfig", "GenerateConfig", "MineConfig", "ScoreConfig", "LossConfig",
               "TrainConfig", "RealConfig", "ProxyConfig", "DatasetSpec", "TeacherResources"}  # fmt: skip
    for path in sorted((ROOT / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in classes, f"{path.name}:{node.lineno} builds {node.func.id} itself"
