"""``python -m listdistill_models``: the installer's command line."""

from listdistill_models.install import main

main()
