"""Every third-party module that src/ and stages/ import belongs to a distribution pyproject.toml declares."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = {"vllm"}  # the [vllm] extra: imported only when generate.backend is vllm


def _imported_modules(folder: Path) -> set[str]:
    modules: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    return {name.lower().replace("_", "-") for name in names}


def test_every_imported_distribution_is_declared() -> None:
    local = {"listdistill", "listdistill_models", "stages"}
    modules = (_imported_modules(ROOT / "src") | _imported_modules(ROOT / "stages")) - local - OPTIONAL
    third_party = {m for m in modules if m not in sys.stdlib_module_names}
    owners = packages_distributions()
    declared = _declared()
    missing = {
        module: owners.get(module, ["?"])
        for module in sorted(third_party)
        if not {d.lower().replace("_", "-") for d in owners.get(module, [])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import psutil\nfrom yaml import safe_load\n", encoding="utf-8")
    assert _imported_modules(tmp_path) == {"psutil", "yaml"}
