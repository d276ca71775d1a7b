"""Kept for its import path: the ``.s2s`` namespace moved to :mod:`s2sframe.namespace`.

The namespace gathers methods of the engine, export and show layers, so it is
declared above them; ``from s2sframe.engine.namespace import S2SNamespace`` still
works (the names are looked up in :mod:`s2sframe.namespace`, which ``import
s2sframe`` has loaded before this module can be imported).

Examples
--------
>>> from s2sframe.engine.namespace import S2SNamespace
>>> import s2sframe
>>> S2SNamespace is s2sframe.S2SNamespace
True
"""

from __future__ import annotations

import importlib
from typing import Any

_MOVED = ("S2SLazyNamespace", "S2SNamespace", "frame_method", "s2s")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        # by name, not by an import statement: the engine layer does not depend on the
        # facade above it; this is an alias of the old path only
        return getattr(importlib.import_module("s2sframe.namespace"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
