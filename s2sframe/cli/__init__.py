"""The ``s2s`` command: ``s2s init``, ``process``, ``download``, ``dl``, ``db``, ``show``,
``classlabel``.

One module per group of commands (:mod:`.workflow`, :mod:`.download`, :mod:`.runs`,
:mod:`.viewer`)
on the group and helpers of :mod:`.common`.

Exit codes: 0 success, 1 failure while processing (the message names the
segment), 2 bad input (missing database or file, bad YAML, bad selection,
missing function...). Messages go to stderr; database passwords are masked.

Examples
--------
.. code-block:: console

    $ s2s init demo
    $ s2s process -d demo/paramtable.yaml -c demo/paramtable.yaml -p demo/paramtable.py out.parquet
"""

from . import download, runs, viewer, workflow  # noqa: F401 - registers the commands
from .common import main, mask
from .workflow import NOTEBOOK

__all__ = ["NOTEBOOK", "main", "mask"]
