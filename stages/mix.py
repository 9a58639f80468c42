"""mix: the scored lists of the types in ``query_mix`` (and only those), for ``train``. Reads ``query_mix`` and
``generate.types`` (validation: every type in the mix is generated, or ``real``)."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.errors import friendly
from listdistill.mix import copy_mix
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--scored", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(params_path: Path, overrides: tuple[str, ...], scored: Path, out: Path) -> None:
    mix = read_params(params_path, overrides).query_mix
    counts = copy_mix(scored, mix, out)
    click.echo("mix: " + ", ".join(f"{t} {n}" for t, n in counts.items()) + " training lists")


if __name__ == "__main__":
    stage_main(main)
