"""``python -m listdistill.config > docs/params.md`` and ``python -m listdistill.config params-yaml > params.yaml``:
the two files written from the config's fields (their defaults, valid values and docs)."""

import click

from listdistill.config.docs import params_markdown, params_yaml


@click.command()
@click.argument("what", type=click.Choice(["params-md", "params-yaml"]), default="params-md")
def main(what: str) -> None:
    """Print docs/params.md (params-md, the default) or params.yaml (params-yaml)."""
    click.echo(params_markdown() if what == "params-md" else params_yaml(), nl=False)


main()
