"""Realistic, deterministic stream2segment databases of any size: to try, test and benchmark.

:func:`make_database` writes a complete stream2segment database (SQLite or
PostgreSQL) in the stream2segment 3.x layout: events from a few seismic regions,
stations of a few European networks, one segment per (event, channel) with
real Steim2 miniSEED bytes, gzip-compressed StationXML with real instrument
responses, a realistic mix of download outcomes, classes and class labels.
:func:`example_database` writes the small demo database of ``s2s init``.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same arguments
give identical content, on either backend. The metadata never depend on whether
waveforms are written: a ``metadata_only=True`` database equals the full one
without ``segments.data`` and ``stations.inventory_xml``.

What is realistic (and what is not)
-----------------------------------
- events: 2015-2021, sorted by time, EMSC-like ids and region names; local
  European events (magnitude >= 3, mostly ML) and global ones (>= 5, mb/Mw),
  truncated Gutenberg-Richter magnitudes up to 8.5, depths from the region.
- stations: codes of 3-4 letters in networks GE, IV, CH, FR, GR, MN, HL, NL
  (round robin), two EIDA data centers; channels ``HH?`` (100 Hz) or ``BH?``
  (20 Hz) alternating by station (band code from the sample rate), location
  ``''`` or ``'00'``; every 7th station (index 3, 10, ...) has no inventory.
- ``regional=True``: events of magnitude 4-6 in and around Italy only, stations
  in the area around them (latitude 39-49, longitude 6-19): distances of a few
  degrees, where the synthetic events are well above the noise (as in the
  example database, whose segments the ``s2s init`` template mostly processes).
- segments: great-circle distances; P arrival times from an IASP91 table
  (interpolated in distance and depth); request window of ``duration_sec``
  starting ``duration_sec / 3`` before the arrival, floored to the second (as
  stream2segment does); data windows a few seconds off the request window, so
  ``missing_data_sec`` is mostly negative, sometimes positive.
- waveforms (int32 counts, Steim2, records of 512 or 4096 bytes): microseism
  and white noise plus a P (and, when in the window, S) wavelet whose amplitude
  grows with magnitude and decays with distance; clipped at +-2**23 like a
  24-bit digitizer. They are synthetic: do not do science with them.
- download outcomes (exact counts for a given size, shuffled by ``seed``; at
  least one of each in databases of 20 segments or more): ~76% 200 with data,
  4% 200 with a gap (two traces, ``maxgap_numsamples`` = missing samples > 0.5),
  3% -200 (data trimmed to the window), 1% -2 (bytes that are not miniSEED),
  and no data for 204, 404, 500, -1, -204 and NULL codes.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import URL

from ..db.urls import parse_url
from .fdsn_server import FDSNServer, fdsn_server
from .inventory import _read_template
from .plan import _check_args, _Plan
from .write import _prepare_database, _write, _Writer

__all__ = ["FDSNServer", "example_database", "fdsn_server", "make_database"]


# --------------------------------------------------------------------------- public API


def make_database(
    url: str | URL,
    *,
    events: int = 10,
    stations: int = 5,
    channels_per_station: int = 3,
    seed: int = 0,
    metadata_only: bool = False,
    legacy: bool = False,
    sample_rates: tuple[float, ...] = (100.0, 20.0),
    duration_sec: float = 240.0,
    overwrite: bool = False,
    inventory_template: bytes | str | os.PathLike[str] | None = None,
    regional: bool = False,
    stale_sequences: bool = False,
) -> dict[str, int]:
    """Write a realistic, deterministic stream2segment database.

    One segment per (event, channel): ``events * stations * channels_per_station``
    segments. See the module docstring for what the content looks like.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        ``sqlite:///path`` (the file and its folder are created) or
        ``postgresql://...`` (the database must exist).
    events, stations, channels_per_station : int
        Table sizes (all >= 1). Channels of a station are Z, N, E components of
        one band, then of the next sample rate of ``sample_rates``, then of
        further location codes (``'10'``, ``'20'``, ...).
    seed : int
        Seed of ``numpy.random.default_rng``: same arguments, same content.
    metadata_only : bool
        Write no waveforms (``segments.data`` NULL, download codes unchanged)
        and no StationXML. Fast: a million segments in ~10 s on SQLite, ~6 s
        on PostgreSQL (with waveforms: ~0.5 ms per segment).
    legacy : bool
        Create ``events`` without the ``event_type`` column, like databases
        written by stream2segment before it was added.
    sample_rates : tuple of float
        Sample rates of the channels, alternating by station (station ``i``
        uses ``sample_rates[i % len(sample_rates)]`` first).
    duration_sec : float
        Length of the request window of each segment (seconds).
    overwrite : bool
        If the database already holds stream2segment rows, drop its
        stream2segment tables and write anew (otherwise raise ``ValueError``).
    inventory_template : bytes, str or path-like, optional
        A StationXML at response level whose channel responses are used as
        templates instead of those of ObsPy's example inventory (e.g. a real
        ``stations.inventory_xml`` of a stream2segment database, with FIR
        stages): bytes (gzip, bz2, zip, zlib or plain) or the path of such a
        file. Each generated channel gets a copy of the template channel of the
        closest sample rate (preferring the same channel code, then the same
        instrument code, then the same component; latest epoch), with the
        generated codes, coordinates, orientation and sample rate; the
        ``channels`` table's sensor description and scale come from it too.
    regional : bool
        Draw a regional data set instead of a mix of local and teleseismic events:
        events of magnitude 4 to 6 in central Italy, the Adriatic sea, Croatia and
        Switzerland only, stations in the area around them (latitude 39-49, longitude
        6-19; each network's usual area clipped to it, or unchanged if outside: that
        of ``HL``, ``NL``): event-station distances below ~17 degrees, 90% of them between
        1.5 and 11, where the events stand out of the noise, as in a typical regional
        download. The download outcomes, the stations without StationXML, the
        station codes and everything else are drawn as usual.
    stale_sequences : bool
        PostgreSQL: leave the id sequences where they are (at 1) after writing explicit
        ids, as stream2segment does: the next default id of every table is taken (the
        shape of databases stream2segment wrote or extended). By default they are moved
        past the largest id.

    Returns
    -------
    dict of str to int
        The number of rows written per table (all nine stream2segment tables).

    Raises
    ------
    ValueError
        Invalid arguments, or a database already holding stream2segment data
        and ``overwrite=False`` (the message names the URL, password masked).
    s2sframe.exceptions.DatabaseError
        Unsupported URL, or the database cannot be reached.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s2s.sqlite")
    >>> counts = make_database("sqlite:///" + path, events=3, stations=2, seed=1)
    >>> counts["segments"], counts["stations"], counts["channels"]
    (18, 2, 6)
    >>> make_database("sqlite:///" + path, metadata_only=True, overwrite=True)["segments"]
    150
    """
    _check_args(events, stations, channels_per_station, sample_rates, duration_sec)
    template = _read_template(inventory_template)
    parsed = parse_url(url)
    plan = _Plan.build(
        events=events,
        stations=stations,
        channels_per_station=channels_per_station,
        seed=seed,
        sample_rates=tuple(float(r) for r in sample_rates),
        duration_sec=float(duration_sec),
        template=template,
        regional=regional,
    )
    engine, private = _prepare_database(parsed, overwrite=overwrite, legacy=legacy)
    try:
        with _Writer(engine, unjournaled=private, stale_sequences=stale_sequences) as writer:
            counts = _write(writer, plan, metadata_only=metadata_only, legacy=legacy)
    finally:
        engine.dispose()
    return counts


def example_database(path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write the small demo database (6 events, 7 stations, 126 segments) and return its URL.

    The database has waveforms, StationXML, all kinds of download outcomes and
    a few class labels: enough to try every s2sframe feature in seconds. It is
    regional (``make_database(..., regional=True)``: events of magnitude 4-6 in
    and around Italy, recorded at 1-13 degrees) so that the processing template of
    ``s2s init`` processes most segments with data: 84 of the 98 it selects. It skips
    those of the station without StationXML (13) and one of low SNR.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the SQLite file to create (folders are created).
    overwrite : bool
        Replace the stream2segment tables of an existing database.

    Returns
    -------
    str
        The ``sqlite:///`` URL of the database (absolute path).

    Examples
    --------
    >>> import os, tempfile
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> url.startswith("sqlite:///") and url.endswith("demo.sqlite")
    True
    """
    url = "sqlite:///" + os.path.abspath(os.fspath(path))
    make_database(url, events=6, stations=7, channels_per_station=3, seed=0, regional=True,
                  overwrite=overwrite)
    return url
