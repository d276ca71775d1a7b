"""s2sframe: stream2segment databases of seismic waveform segments as Polars frames.

>>> import s2sframe
>>> sorted(s2sframe.__all__)[:3]
['DatabaseError', 'ProcessingError', 'S2SFrameError']
"""

from __future__ import annotations

from ._db import mask_url
from ._info import attributes
from ._scan import explain, scan
from ._selection import where
from .exceptions import (
    DatabaseError,
    ProcessingError,
    S2SFrameError,
    SelectionError,
    SkipSegment,
)

__version__ = "0.1.0"

__all__ = [
    "DatabaseError",
    "ProcessingError",
    "S2SFrameError",
    "SelectionError",
    "SkipSegment",
    "attributes",
    "explain",
    "mask_url",
    "scan",
    "where",
]
