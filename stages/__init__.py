"""The pipeline's stages: one click command each, run as ``python -m stages.<name>`` (dvc.yaml).

Run that way, a stage handles Ctrl-C and SIGTERM from its first import on (:func:`listdistill.errors.run` installs
the same handlers again at the end, for other entry points): Python sets ``sys.argv[0]`` to ``-m`` while it imports
this package to find the stage's module, and only then.
"""

import sys

if sys.argv[:1] == ["-m"]:
    from listdistill.errors import install_signal_handlers

    install_signal_handlers()
