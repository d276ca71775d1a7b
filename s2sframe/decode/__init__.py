"""Bytes stored in a stream2segment database -> ObsPy objects, fast.

* :func:`read_mseed`: miniSEED bytes -> :class:`obspy.Stream`, identical to
  ``obspy.read(io.BytesIO(data), format="MSEED")`` but decoded by libmseed 3
  (``pymseed``, GIL released) without ObsPy's plugin dispatch. Whatever the fast
  path cannot prove identical is handed to ObsPy's own miniSEED reader.
  :func:`check_headers` checks the record headers of a batch of buffers at once, for
  :func:`read_mseed` to decode each of them later without checking again.
* :func:`decompress`: gzip, bz2, zip (one member), zlib or plain bytes.
* :func:`read_inventory`: (compressed) StationXML -> :class:`obspy.Inventory`, ~25x
  faster than ObsPy's reader (channel responses are read on first use:
  :func:`parse_stationxml`, :class:`LazyResponse`), equal to ObsPy's, whose channel
  responses are evaluated fast and memoized (:class:`CachedResponse`), so plain
  ObsPy code ``trace.remove_response(inventory)`` is 6-40x faster and stops
  recomputing the same response for every segment of a channel.
* :func:`fast_response`: the same fast, memoized evaluation for any ObsPy response or
  inventory (:mod:`s2sframe.decode.fastresp`: equal to evalresp's to rounding);
  :func:`fast_response_stats`: how many evaluations were fast, how many fell back.
* :class:`InventoryCache`: station id -> parsed inventory (or the error), an LRU
  bounded in bytes (:func:`inventory_nbytes`), one per worker process (and one in
  the viewer), so each StationXML is parsed at most once per process (once per run
  in ``map_segments``: :mod:`s2sframe.decode.invshare`).

The implementation lives in :mod:`s2sframe.decode.mseed` (with :mod:`s2sframe.decode.mseed_vector`
and :mod:`s2sframe.decode.mseed_trace`), :mod:`s2sframe.decode.stationxml` (with :mod:`s2sframe.decode.lazyxml`) and
:mod:`s2sframe.decode.responses`; this module re-exports their names.
"""

from __future__ import annotations

from .fastresp import FastResponseStats, fast_response_stats
from .lazyxml import LazyResponse, parse_stationxml
from .mseed import check_headers, read_mseed
from .responses import (
    CachedResponse,
    clear_response_cache,
    enable_response_cache,
    fast_response,
    response_cache_info,
    set_response_cache_size,
)
from .stationxml import InventoryCache, decompress, inventory_nbytes, read_inventory

__all__ = [
    "CachedResponse",
    "FastResponseStats",
    "InventoryCache",
    "LazyResponse",
    "check_headers",
    "clear_response_cache",
    "decompress",
    "enable_response_cache",
    "fast_response",
    "fast_response_stats",
    "inventory_nbytes",
    "parse_stationxml",
    "read_inventory",
    "read_mseed",
    "response_cache_info",
    "set_response_cache_size",
]
