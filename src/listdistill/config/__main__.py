"""``python -m listdistill.config > docs/params.md``: every param with its default, valid values and doc."""

from listdistill.config.docs import params_markdown

print(params_markdown(), end="")
