"""s2sframe: stream2segment databases of seismic waveform segments as Polars frames.

The public API:

- :func:`scan`, :func:`where`, :func:`explain`, :func:`attributes`: segment
  metadata as a Polars LazyFrame, stream2segment selections, the SQL it runs;
- the ``.s2s`` namespace on Polars frames (:func:`s2s` for typed access),
  :func:`map_segments`, :class:`Segment`: waveforms, inventories and parallel
  processing with results as columns;
- :mod:`s2sframe.process`: the stream2segment processing API (``imap``,
  ``process``, ``get_segments``, ORM models...); :mod:`s2sframe.signal`:
  signal-processing helpers; :mod:`s2sframe.testing`: example databases and a local
  FDSN server;
- :func:`download`: build or extend databases from FDSN web services;
- :func:`to_seisbench`, :func:`to_asdf`, :func:`waveforms` (also ``df.s2s.to_seisbench()``...):
  training sets in SeisBench's format, ASDF files, samples as array columns.

Examples
--------
>>> import s2sframe
>>> "scan" in s2sframe.__all__ and "map_segments" in s2sframe.__all__
True
"""

from __future__ import annotations

import importlib as _importlib
import importlib.metadata as _metadata
import typing as _typing

from .db.copy import copy_database
from .db.info import attributes
from .db.scan import explain, scan
from .db.selection import where
from .db.urls import mask_url
from .decode.fastresp import fast_response_stats
from .decode.responses import fast_response
from .engine.run import map_segments, shutdown_workers
from .engine.segment import Segment
from .exceptions import (
    DatabaseError,
    OutputError,
    ProcessingError,
    ResultTypeError,
    S2SFrameError,
    SelectionError,
    SkipSegment,
)
from .export import to_asdf, to_seisbench, waveforms
from .namespace import S2SLazyNamespace, S2SNamespace, s2s  # registers df.s2s / lf.s2s

if _typing.TYPE_CHECKING:
    # download: the package, callable as its function; typed as the function
    from .download import DownloadReport, download


def __getattr__(name: str) -> _typing.Any:
    """``download`` and ``DownloadReport``, imported when first asked for: the download
    needs HTTP and XML libraries (~50 MB a process) that processing workers, the viewer
    and ``s2s process`` never use."""
    if name in ("download", "DownloadReport"):
        package = _importlib.import_module(".download", __name__)  # sets s2sframe.download
        return package if name == "download" else package.DownloadReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


try:
    __version__ = _metadata.version("s2sframe")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree not installed
    __version__ = "0+unknown"

__all__ = [
    "DatabaseError",
    "DownloadReport",
    "OutputError",
    "ProcessingError",
    "ResultTypeError",
    "S2SFrameError",
    "S2SLazyNamespace",
    "S2SNamespace",
    "Segment",
    "SelectionError",
    "SkipSegment",
    "attributes",
    "copy_database",
    "download",
    "explain",
    "fast_response",
    "fast_response_stats",
    "map_segments",
    "mask_url",
    "s2s",
    "scan",
    "shutdown_workers",
    "to_asdf",
    "to_seisbench",
    "waveforms",
    "where",
]
