"""The parameters the exports share: how segments become arrays, and their documentation.

One definition of each option (:class:`TraceOptions`, validated with a message
naming the parameter) and one text describing it (:data:`DOCS`, put into the
docstrings of :func:`~s2sframe.export.to_seisbench`,
:func:`~s2sframe.export.waveforms` and :func:`~s2sframe.export.to_asdf` by
:func:`fill_doc`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

#: ObsPy's ``remove_response`` outputs, and what a SeisBench ``data_format`` says of them.
UNITS = {"DISP": ("displacement", "m"), "VEL": ("velocity", "mps"),
         "ACC": ("acceleration", "mps2")}
#: Orientation codes a component string may hold.
ORIENTATIONS = "ZNE12"


@dataclass(frozen=True)
class TraceOptions:
    """How each segment becomes an array (validated on creation).

    Examples
    --------
    >>> TraceOptions(components="ZNE", window=(10, 50), sampling_rate=40).samples(40.0)
    2400
    >>> TraceOptions(window=(10, -20))
    Traceback (most recent call last):
    ...
    ValueError: window=(10, -20): the window must end after it starts (before + after > 0 seconds)
    """

    components: str | None = None
    window: tuple[float, float] | None = None
    sampling_rate: float | None = None
    remove_response: str | None = None

    def __post_init__(self) -> None:
        comps = self.components
        if comps is not None:
            if (not isinstance(comps, str) or not comps or len(set(comps)) != len(comps)
                    or set(comps) - set(ORIENTATIONS)):
                raise ValueError(
                    f"components={comps!r}: a string of distinct orientation codes among "
                    f"{', '.join(ORIENTATIONS)} (e.g. 'ZNE', 'Z12', 'Z'), or None for one "
                    "trace per segment"
                )
        if self.window is not None:
            try:
                if isinstance(self.window, str | bytes):
                    raise TypeError
                before, after = (float(v) for v in self.window)
            except (TypeError, ValueError):
                raise ValueError(
                    f"window={self.window!r}: give (seconds before, seconds after) the P "
                    "arrival, e.g. (10, 50), or None for whole segments"
                ) from None
            if not (math.isfinite(before) and math.isfinite(after)) or before + after <= 0:
                raise ValueError(f"window={self.window!r}: the window must end after it starts "
                                 "(before + after > 0 seconds)")
            object.__setattr__(self, "window", (before, after))
        rate = self.sampling_rate
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
                    math.isfinite(rate) and rate > 0):
                raise ValueError(f"sampling_rate={rate!r}: a positive number of Hz, or None "
                                 "to keep each segment's rate")
            object.__setattr__(self, "sampling_rate", float(rate))
        if self.remove_response is not None and self.remove_response not in UNITS:
            raise ValueError(f"remove_response={self.remove_response!r}: one of "
                             f"{', '.join(map(repr, UNITS))} (ObsPy's output units), or None "
                             "to keep counts")

    def samples(self, rate: float) -> int:
        """Samples of a window at ``rate`` Hz (the window must be set)."""
        assert self.window is not None
        return max(1, round((self.window[0] + self.window[1]) * rate))

    def settings(self) -> dict[str, Any]:
        """JSON-able form, for manifests."""
        return {"components": self.components,
                "window": list(self.window) if self.window else None,
                "sampling_rate": self.sampling_rate, "remove_response": self.remove_response}


def wanted(components: str, orientation: str | None) -> bool:
    """Whether a segment of this orientation code is part of a group of ``components``:
    its code is one of them, or 1/2 horizontals when N or E are asked (rotated).

    Examples
    --------
    >>> wanted("ZNE", "1"), wanted("ZNE", "Z"), wanted("Z", "N"), wanted("Z12", "N")
    (True, True, False, False)
    """
    if not orientation:
        return False
    return orientation in components or (orientation in "12" and bool(set("NE") & set(components)))


_F = TypeVar("_F", bound=Callable[..., Any])

#: Parameter texts shared by the export functions' docstrings (``{name}`` in them).
DOCS = {
    "components": """components : str or None
        Orientation codes of the rows of each array, e.g. ``"ZNE"`` (the default of
        :func:`to_seisbench`), ``"Z12"`` or ``"Z"``. The segments of one event at one
        station, location and band+instrument code (``HH``, ``BH``...: the
        stream2segment siblings) become one array of ``len(components)`` rows,
        each segment in the row of its orientation code. Horizontals coded 1 and 2
        are rotated to N and E (with the azimuth and dip of their channels, ObsPy's
        ``rotate2zne``) when N or E are asked, the group has no N/E segment, and
        its Z, 1 and 2 all have data and orientations; otherwise they are left
        out. A component that is missing (not selected, no data, failed), the
        gaps of a segment and the parts of the window it does not cover are
        zeros: ``completeness`` is the fraction of real samples. ``None``: one
        array per segment, of one row.""",
    "window": """window : (float, float) or None
        Seconds before and after the segment's P arrival (``arrival_time``):
        arrays of ``round((before + after) * rate)`` samples starting at the
        sample nearest to ``arrival_time - before``. None: the whole segment.""",
    "sampling_rate": """sampling_rate : float or None
        Resample every segment to this rate (Hz) first (ObsPy's ``Trace.resample``:
        Fourier method, zero phase), so that all arrays share it. None: keep each
        segment's rate.""",
    "remove_response": """remove_response : {None, "DISP", "VEL", "ACC"}
        Remove the instrument response first, to displacement (m), velocity (m/s)
        or acceleration (m/s**2): ``trace.remove_response(segment.inventory(),
        output=...)`` with ObsPy's defaults, through s2sframe's fast response
        evaluation. None: keep counts. Segments of stations without StationXML
        then fail (recorded).""",
    "engine": """workers : int, optional
        Processes (default: the available cores; 0 or 1: this process), as in
        :func:`s2sframe.map_segments`.
    chunksize : int, optional
        Segments per task (default: chosen to keep the memory of a batch of
        samples bounded, at most 500).
    progress : bool
        Show a progress bar and print a summary line.
    dburl : str, optional
        The database (default: the one the frame was scanned from).""",
    "resume": """overwrite : bool
        Discard an existing export at ``path`` (and its partial results) and
        start anew. Without it, a call on the path of an interrupted export
        (Ctrl-C, crash, ``kill -9``) processes only the segments still missing and
        writes the same files as an uninterrupted run; on a finished export with the
        same segments and options it does nothing; an export of other segments or
        options on the same path is refused (:class:`~s2sframe.OutputError`), as
        is a second run while one writes it.""",
}


def fill_doc(func: _F) -> _F:
    """Put the shared parameter texts (:data:`DOCS`) in place of their ``{name}`` in
    ``func``'s docstring."""
    doc = func.__doc__ or ""
    for key, text in DOCS.items():
        doc = doc.replace("{" + key + "}", text)
    func.__doc__ = doc
    return func
