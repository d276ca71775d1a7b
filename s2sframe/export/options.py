"""The parameters the exports share: how segments become arrays.

One definition of each option (:class:`TraceOptions`, validated with a message
naming the parameter); their documentation is that of
:func:`~s2sframe.export.to_seisbench`, to which the other exports refer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


def check_fraction(name: str, value: Any) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a number in [0, 1].

    Examples
    --------
    >>> check_fraction("min_completeness", 2)
    Traceback (most recent call last):
    ...
    ValueError: min_completeness=2: a fraction between 0 and 1
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name}={value!r}: a fraction between 0 and 1")
