"""ObsPy's plugin lookups made once per process, not once per call.

``Trace.filter``, ``taper``, ``detrend``, ``interpolate``, ``trigger``... find the
function to run among ObsPy's entry points on every call
(``obspy.core.util.base._get_function_from_entry_point``), and that lookup asks the
entry point for its distribution's name: on Python 3.10 and newer
``importlib.metadata`` then reads and parses ObsPy's ``METADATA`` file again
(~0.2 ms per call; ~10% of the CPU of stream2segment's ``paramtable.py`` template,
which calls these methods a dozen times per segment). :func:`cache_plugin_lookups`
gives ObsPy's entry points a distribution whose name is read once: the same entry
points, the same functions, the same errors for unknown types. The processes that run
segment functions (``map_segments``' workers and its one-process runs) do it.
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

__all__ = ["cache_plugin_lookups"]


class _NamedDistribution(importlib.metadata.PathDistribution):
    """An installed distribution whose name is read once."""

    @functools.cached_property
    def name(self) -> str:  # type: ignore[override]
        return super().name


def cache_plugin_lookups() -> int:
    """Give ObsPy's entry points a distribution whose name is read once (idempotent).

    Returns
    -------
    int
        How many entry points were given one now (0 if done before, or if this ObsPy
        or Python keeps its entry points otherwise: then nothing is changed).

    Examples
    --------
    >>> import obspy
    >>> trace = obspy.read()[0]
    >>> before = trace.copy().filter("bandpass", freqmin=1, freqmax=10).data
    >>> _ = cache_plugin_lookups()
    >>> cache_plugin_lookups()  # done already
    0
    >>> after = trace.copy().filter("bandpass", freqmin=1, freqmax=10).data
    >>> bool((before == after).all())
    True
    """
    try:
        from obspy.core.util.base import ENTRY_POINTS
    except ImportError:
        return 0
    names: dict[Any, _NamedDistribution] = {}
    done = 0
    for group in ENTRY_POINTS.values():
        for entry_point in getattr(group, "values", lambda: ())():
            dist = vars(entry_point).get("dist")
            if type(dist) is not importlib.metadata.PathDistribution:
                continue  # done already, or not a distribution on disk
            path = getattr(dist, "_path", None)
            if path is None:
                continue
            named = names.get(path)
            if named is None:
                named = names[path] = _NamedDistribution(path)
            # EntryPoint is immutable but for this: importlib.metadata sets ``dist``
            # the same way (EntryPoint._for)
            vars(entry_point)["dist"] = named
            done += 1
    return done
