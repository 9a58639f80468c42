"""listdistill.config.docs: docs/params.md and params.yaml, both written from the fields of config/sections.py."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from listdistill import config
from listdistill.config import Params, load_params
from listdistill.config.docs import COMMENT_COLUMN, WIDTH, params_yaml, yaml_lines
from listdistill.config.sections import _p

ROOT = Path(__file__).resolve().parents[2]


def test_docs_params_table_is_generated_from_the_config():
    """docs/params.md is the config's own description (python -m listdistill.config > docs/params.md)."""
    assert (ROOT / "docs" / "params.md").read_text(encoding="utf-8") == config.params_markdown()
    assert all(doc for _, _, doc in config.describe()), "every param has a line of documentation"


def test_params_yaml_is_generated_from_the_config():
    """The committed params.yaml, comments included, is exactly what the config writes
    (python -m listdistill.config params-yaml > params.yaml)."""
    assert (ROOT / "params.yaml").read_text(encoding="utf-8") == params_yaml()


def test_generated_params_yaml_loads_to_the_defaults_with_their_types(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(params_yaml(), encoding="utf-8")
    assert load_params(path) == Params()
    loaded = yaml.safe_load(path.read_text())
    assert type(loaded["score"]["norm_low"]) is float and type(loaded["train"]["epochs"]) is int
    assert loaded["dataset"]["queries"] == "" and loaded["query_mix"] == Params().query_mix


def test_every_comment_line_fits_the_width_and_starts_at_the_column():
    for line in params_yaml().splitlines():
        assert len(line) <= WIDTH, line
        if line.lstrip().startswith("#") and line.startswith(" "):  # a comment continued under its key
            assert line.index("#") == COMMENT_COLUMN, line


@dataclass
class _Inner:
    """Inner section."""

    words: list[str] = _p(["a", "b"], "a list in flow style")


@dataclass
class _Tiny:
    empty: str = _p("", "an empty string is quoted")
    colon: str = _p("a: b", "a string YAML would misread is quoted")
    rate: float = _p(5e-5, "a float keeps its exponent")
    long_key_name_that_passes_the_column: bool = _p(True, "two spaces then the comment")
    wrapped: int = _p(3, "word " * 30)
    inner: _Inner = _p(None)

    def __post_init__(self) -> None:
        self.inner = _Inner()


def test_yaml_lines_pin_the_layout():
    lines = yaml_lines(_Tiny())
    assert lines == [
        "empty: ''                    # an empty string is quoted",
        "colon: 'a: b'                # a string YAML would misread is quoted",
        "rate: 5.0e-05                # a float keeps its exponent",
        "long_key_name_that_passes_the_column: true  # two spaces then the comment",
        "wrapped: 3                   # " + " ".join(["word"] * 17),
        "                             # " + " ".join(["word"] * 13),
        "",
        "# Inner section.",
        "inner:",
        "  words: [a, b]              # a list in flow style",
    ]
    loaded = yaml.safe_load("\n".join(lines))
    assert loaded == {"empty": "", "colon": "a: b", "rate": 5e-5, "long_key_name_that_passes_the_column": True,
                      "wrapped": 3, "inner": {"words": ["a", "b"]}}  # fmt: skip


def test_module_cli_writes_both_files():
    run = [sys.executable, "-m", "listdistill.config"]
    assert subprocess.run([*run, "params-yaml"], capture_output=True, text=True, check=True).stdout == params_yaml()
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout == config.params_markdown()


def test_every_section_has_its_own_docstring_above_its_key():
    """A section without a docstring would print the dataclass's generated signature above its key."""
    sections = [f for f in Params.__dataclass_fields__.values() if dataclasses.is_dataclass(f.default_factory)]
    assert len(sections) == 12
    text = params_yaml()
    for f in sections:
        assert not f.default_factory.__doc__.startswith(f.default_factory.__name__ + "("), f.name
        assert f"\n{f.name}:\n" in text
