"""``python -m s2sframe.testing``: serve the demo FDSN web services until Ctrl-C.

The entry point of the demo server (:func:`s2sframe.testing.fdsn_server.main`; run
with ``--help`` for its options). ``python -m s2sframe.testing.fdsn_server`` works
too, but Python warns there (the package imports that module before running it).
"""

import sys

from .fdsn_server import main

if __name__ == "__main__":  # pragma: no cover - run by tests in a subprocess
    sys.exit(main())
