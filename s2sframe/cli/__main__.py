"""``python -m s2sframe.cli``: the ``s2s`` command."""

from . import main

main(prog_name="s2s")
