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

import copy
import gzip
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ._db import _first_line, is_sqlite, mask_url, parse_url
from ._schema import create_all, metadata
from .exceptions import DatabaseError

__all__ = ["example_database", "make_database"]

# --------------------------------------------------------------------------- constants

_US = 1_000_000  # microseconds per second
_EPOCH_2015 = int(np.datetime64("2015-01-01T00:00:00", "us").astype(np.int64))
_EPOCH_2022 = int(np.datetime64("2022-01-01T00:00:00", "us").astype(np.int64))

#: (code, data center index, lat min, lat max, lon min, lon max, max elevation, country),
#: in the round-robin order used to assign stations (alternating data centers).
_NETWORKS: tuple[tuple[str, int, float, float, float, float, float, str], ...] = (
    ("GE", 0, 35.0, 56.0, -9.0, 30.0, 1500.0, ""),
    ("IV", 1, 37.0, 46.5, 7.0, 18.0, 1800.0, "Italy"),
    ("CH", 0, 45.9, 47.7, 6.0, 10.4, 3000.0, "Switzerland"),
    ("FR", 1, 42.5, 50.5, -4.0, 7.5, 2000.0, "France"),
    ("GR", 0, 47.5, 54.5, 6.5, 14.5, 1000.0, "Germany"),
    ("MN", 1, 35.0, 47.0, -5.0, 35.0, 1500.0, ""),
    ("HL", 0, 35.0, 41.5, 20.0, 28.0, 1500.0, "Greece"),
    ("NL", 0, 50.8, 53.5, 3.5, 7.0, 100.0, "Netherlands"),
)

_DATA_CENTERS: tuple[tuple[str, str, str], ...] = (
    (
        "http://geofon.gfz-potsdam.de/fdsnws/station/1/query",
        "http://geofon.gfz-potsdam.de/fdsnws/dataselect/1/query",
        "eida",
    ),
    (
        "http://webservices.ingv.it/fdsnws/station/1/query",
        "http://webservices.ingv.it/fdsnws/dataselect/1/query",
        "eida",
    ),
)

#: (event_location_name, latitude, longitude, spread deg, min magnitude,
#:  mean depth km, contributor, weight)
_REGIONS: tuple[tuple[str, float, float, float, float, float, str, float], ...] = (
    ("CENTRAL ITALY", 42.8, 13.1, 0.6, 3.0, 10.0, "INGV", 0.10),
    ("SICILY, ITALY", 37.7, 14.5, 0.8, 3.0, 15.0, "INGV", 0.05),
    ("ADRIATIC SEA", 43.0, 15.5, 0.8, 3.0, 12.0, "EMSC", 0.04),
    ("SOUTHERN GREECE", 37.0, 22.0, 1.0, 3.0, 25.0, "NOA", 0.08),
    ("AEGEAN SEA", 38.5, 25.5, 1.0, 3.0, 15.0, "NOA", 0.07),
    ("WESTERN TURKEY", 38.5, 28.0, 1.2, 3.0, 12.0, "KOERI", 0.07),
    ("SWITZERLAND", 46.6, 8.0, 0.5, 3.0, 8.0, "SED", 0.03),
    ("PYRENEES", 42.8, 0.5, 0.6, 3.0, 10.0, "EMSC", 0.03),
    ("NORTHERN ALGERIA", 36.5, 4.0, 1.0, 3.0, 12.0, "EMSC", 0.04),
    ("CROATIA", 45.4, 16.2, 0.6, 3.0, 10.0, "EMSC", 0.03),
    ("ICELAND", 64.0, -21.0, 0.8, 3.0, 8.0, "EMSC", 0.04),
    ("OFFSHORE CHIAPAS, MEXICO", 15.0, -93.8, 1.5, 5.0, 50.0, "EMSC", 0.04),
    ("NEAR COAST OF NORTHERN CHILE", -21.0, -70.3, 2.0, 5.0, 45.0, "USGS", 0.05),
    ("NEAR EAST COAST OF HONSHU, JAPAN", 38.0, 142.0, 2.0, 5.0, 35.0, "USGS", 0.05),
    ("SOUTHERN SUMATRA, INDONESIA", -3.0, 101.0, 2.5, 5.0, 40.0, "GFZ", 0.04),
    ("FIJI ISLANDS REGION", -18.0, -178.5, 2.0, 5.0, 400.0, "USGS", 0.03),
    ("ALASKA PENINSULA", 55.5, -158.0, 2.0, 5.0, 35.0, "USGS", 0.03),
    ("NEW BRITAIN REGION, P.N.G.", -5.5, 151.5, 2.0, 5.0, 50.0, "GFZ", 0.03),
    ("MINDANAO, PHILIPPINES", 7.0, 126.5, 1.5, 5.0, 40.0, "EMSC", 0.03),
    ("CENTRAL MID-ATLANTIC RIDGE", 0.5, -25.0, 3.0, 5.0, 10.0, "EMSC", 0.03),
    ("HINDU KUSH REGION, AFGHANISTAN", 36.5, 70.8, 0.5, 5.0, 200.0, "GFZ", 0.02),
    ("SOUTHERN IRAN", 28.0, 56.0, 1.5, 5.0, 15.0, "EMSC", 0.03),
)

#: IASP91 first P arrival (s) every 5 degrees from 0 to 180 (rows: source depth km).
_TT_DEPTHS = np.array([0.0, 100.0, 300.0, 600.0])
_TT_TABLE = np.array(
    [
        [0.0, 76.3, 144.9, 213.2, 274.1, 325.4, 370.3, 414.0, 456.3, 497.0, 535.9, 573.0,
         608.3, 641.8, 673.4, 703.2, 731.2, 757.3, 781.3, 804.4, 826.7, 848.9, 871.1,
         893.3, 915.5, 937.7, 959.9, 982.1, 1004.3, 1026.5, 1048.7, 1070.9, 1200.4,
         1205.4, 1209.1, 1211.3, 1212.1],
        [13.8, 72.7, 140.6, 206.6, 264.6, 314.4, 359.1, 402.6, 444.7, 485.2, 523.9, 560.8,
         596.0, 629.3, 660.8, 690.5, 718.3, 744.2, 768.2, 791.2, 813.5, 835.7, 857.9,
         880.1, 902.3, 924.5, 946.7, 968.9, 991.1, 1013.3, 1035.5, 1057.7, 1186.6,
         1191.6, 1195.3, 1197.5, 1198.2],
        [38.0, 77.5, 138.1, 197.0, 250.8, 297.0, 341.3, 384.4, 426.1, 466.0, 504.2, 540.7,
         575.4, 608.3, 639.5, 668.8, 696.3, 721.9, 745.6, 768.5, 790.8, 813.0, 835.2,
         857.4, 879.6, 901.8, 924.0, 946.2, 968.4, 990.6, 1012.8, 1035.0, 1162.6,
         1167.6, 1171.2, 1173.4, 1174.1],
        [70.1, 92.8, 138.7, 188.1, 233.6, 278.1, 321.5, 363.6, 404.2, 443.1, 480.4, 516.0,
         549.9, 582.0, 612.5, 641.2, 668.1, 693.1, 716.5, 739.2, 761.5, 783.7, 805.9,
         828.0, 850.2, 872.4, 894.6, 916.8, 939.0, 961.2, 983.4, 1005.6, 1130.6,
         1135.6, 1139.1, 1141.3, 1142.0],
    ]
)  # fmt: skip

_CLASSES: tuple[tuple[str, str], ...] = (
    ("earthquake", "Seismic event clearly recorded"),
    ("noise", "No event: only noise in the window"),
    ("low_snr", "Event visible but with a low signal-to-noise ratio"),
    ("unknown", "Cannot decide"),
    ("multi_event", "More than one event in the window"),
    ("instrument_problem", "Spikes, glitches or a dead channel"),
)
_FIRST_LABELS = (0, 1, 2, 3)  # indices in _CLASSES, one per labelled segment
_SECOND_LABELS = (4, 5)  # never equal to a first label: (segment, class) stays unique
_ANNOTATORS = ("rz", "dbindi", "kathrin")

# Download outcomes: (kind, download_code or None, fraction of the segments). Kinds 0-3
# have data bytes (3: not miniSEED); 0-2 have times, seed id, sample rate and maxgap.
_OK, _GAP, _TRIM, _CORRUPT = 0, 1, 2, 3
_OUTCOMES: tuple[tuple[int, int | None, float], ...] = (
    (_GAP, 200, 0.04),
    (_TRIM, -200, 0.03),
    (_CORRUPT, -2, 0.01),
    (4, 204, 0.04),
    (5, 404, 0.03),
    (6, 500, 0.02),
    (7, -1, 0.03),
    (8, None, 0.02),
    (9, -204, 0.02),
)
_NULL_CODE = -999_999  # placeholder of a NULL download_code before masking

_TABLE_ORDER = (
    "web_services",
    "data_centers",
    "downloads",
    "events",
    "stations",
    "channels",
    "segments",
    "classes",
    "class_labellings",
)

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
    )
    engine, private = _prepare_database(parsed, overwrite=overwrite, legacy=legacy)
    try:
        with _Writer(engine, unjournaled=private) as writer:
            counts = _write(writer, plan, metadata_only=metadata_only, legacy=legacy)
    finally:
        engine.dispose()
    return counts


def example_database(path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write the small demo database (6 events, 5 stations, 90 segments) and return its URL.

    The database has waveforms, StationXML, all kinds of download outcomes and
    a few class labels: enough to try every s2sframe feature in seconds.

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
    make_database(url, events=6, stations=5, channels_per_station=3, seed=0, overwrite=overwrite)
    return url


# --------------------------------------------------------------------------- validation


def _check_args(
    events: int,
    stations: int,
    channels_per_station: int,
    sample_rates: tuple[float, ...],
    duration_sec: float,
) -> None:
    for name, value in (
        ("events", events),
        ("stations", stations),
        ("channels_per_station", channels_per_station),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if stations > 26**3 + 26**4:
        raise ValueError(f"stations must be <= {26**3 + 26**4} (3-4 letter codes), got {stations}")
    if not sample_rates or any(not np.isfinite(r) or r <= 0 for r in sample_rates):
        raise ValueError(
            f"sample_rates must be a non-empty tuple of positive numbers: {sample_rates!r}"
        )
    if channels_per_station > 3 * len(sample_rates) * 10:
        raise ValueError(
            f"channels_per_station must be <= {30 * len(sample_rates)} with "
            f"{len(sample_rates)} sample rate(s), got {channels_per_station}"
        )
    if not np.isfinite(duration_sec) or duration_sec < 1:
        raise ValueError(f"duration_sec must be >= 1, got {duration_sec!r}")


# --------------------------------------------------------------------------- the plan


def _dt(us: np.ndarray) -> pl.Series:
    """int64 microseconds since the epoch -> polars Datetime('us')."""
    return pl.Series(np.asarray(us, dtype=np.int64)).cast(pl.Datetime("us"))


def _letters(codes: np.ndarray) -> list[str]:
    """Distinct ints in [0, 26**3 + 26**4) -> distinct 3 or 4 letter station codes."""
    out = []
    for c in codes.tolist():
        width = 3 if c < 26**3 else 4
        c = c if c < 26**3 else c - 26**3
        chars = []
        for _ in range(width):
            c, r = divmod(c, 26)
            chars.append(chr(65 + r))
        out.append("".join(chars))
    return out


def _band_code(rate: float) -> str:
    """SEED band code of a broadband channel sampled at ``rate`` Hz."""
    if rate >= 1000:
        return "F"
    if rate >= 250:
        return "C"
    if rate >= 80:
        return "H"
    if rate >= 10:
        return "B"
    if rate > 1.05:
        return "M"
    if rate >= 0.95:
        return "L"
    if rate >= 0.095:
        return "V"
    return "U"


def _great_circle_deg(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in degrees (haversine), broadcasting."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def _p_travel_time(distance_deg: np.ndarray, depth_km: np.ndarray) -> np.ndarray:
    """First P arrival time (s) from the IASP91 table, bilinear interpolation."""
    grid = np.arange(0.0, 181.0, 5.0)
    per_depth = np.stack([np.interp(distance_deg, grid, row) for row in _TT_TABLE])
    depth = np.clip(depth_km, 0.0, 700.0)
    k = np.clip(np.searchsorted(_TT_DEPTHS, depth, side="right") - 1, 0, len(_TT_DEPTHS) - 2)
    d0, d1 = _TT_DEPTHS[k], _TT_DEPTHS[k + 1]
    w = (depth - d0) / (d1 - d0)
    idx = np.arange(depth.size)
    return per_depth[k, idx] * (1 - w) + per_depth[k + 1, idx] * w


def _exact_counts(n: int, fractions: np.ndarray) -> np.ndarray:
    """Rounded counts of each fraction of ``n``, at least 1 each when ``n >= 20``."""
    counts = np.floor(fractions * n + 0.5).astype(np.int64)
    if n >= 20:
        counts = np.maximum(counts, 1)
    while counts.sum() > n:  # only for tiny n
        counts[np.argmax(counts)] -= 1
    return counts


@dataclass
class _Plan:
    """Every row of a database except waveforms and StationXML, plus what makes those."""

    tables: dict[str, pl.DataFrame]
    # stations
    sta_network: list[str]
    sta_code: list[str]
    sta_lat: np.ndarray
    sta_lon: np.ndarray
    sta_elevation: np.ndarray
    sta_depth: np.ndarray
    sta_start_us: np.ndarray
    sta_site: list[str | None]
    sta_has_inventory: np.ndarray
    sta_channels: list[list[tuple[str, str, float, float, float]]]  # loc, cha, rate, az, dip
    created_us: int  # StationXML creation time (the first download)
    template: bytes | None  # StationXML whose responses are copied (None: ObsPy's example)
    # channels
    cha_nslc: list[tuple[str, str, str, str]]
    # segments
    seg_kind: np.ndarray
    seg_channel: np.ndarray
    seg_station: np.ndarray
    seg_npts: np.ndarray  # samples from start_time to end_time, gap included
    seg_gap: np.ndarray  # missing samples of gap segments (0 otherwise)
    seg_start_us: np.ndarray
    seg_arrival_rel: np.ndarray  # arrival_time - start_time (s)
    seg_travel_time: np.ndarray  # P travel time (s)
    seg_magnitude: np.ndarray
    seg_distance: np.ndarray
    seg_rate: np.ndarray
    seg_vertical: np.ndarray
    seed: int

    @classmethod
    def build(
        cls,
        *,
        events: int,
        stations: int,
        channels_per_station: int,
        seed: int,
        sample_rates: tuple[float, ...],
        duration_sec: float,
        template: bytes | None = None,
    ) -> _Plan:
        # Independent random streams: the size of one table never shifts the values of another.
        rng_ev, rng_sta, rng_seg, rng_lab, rng_dl = (
            np.random.default_rng([seed, k]) for k in range(5)
        )
        ev = _events(rng_ev, events)
        sta = _stations(rng_sta, stations)

        # channels (the layout of a station depends on its sample rate index and location)
        layouts: dict[tuple[int, str], list[tuple[str, str, float, float, float]]] = {}
        sta_channels = []
        for i, loc in enumerate(sta["location"]):
            key = (i % len(sample_rates), loc)
            if key not in layouts:
                layouts[key] = _channel_layout(key[0], loc, channels_per_station, sample_rates)
            sta_channels.append(layouts[key])
        cha_sta = np.repeat(np.arange(stations), [len(c) for c in sta_channels])
        flat = [ch for chans in sta_channels for ch in chans]
        n_cha = len(flat)
        cha_rate = np.array([c[2] for c in flat], dtype=np.float64)
        sensors = [_channel_template(template, c[2], c[1])[1] for c in flat]
        cha_nslc = [
            (sta["network"][s], sta["station"][s], c[0], c[1])
            for s, c in zip(cha_sta.tolist(), flat, strict=True)
        ]
        channels = pl.DataFrame(
            {
                "id": np.arange(1, n_cha + 1),
                "station_id": cha_sta + 1,
                "location": [c[0] for c in flat],
                "channel": [c[1] for c in flat],
                "depth": sta["depth"][cha_sta],
                "azimuth": [c[3] for c in flat],
                "dip": [c[4] for c in flat],
                "sensor_description": [sen["description"] for sen in sensors],
                "scale": [sen["scale"] for sen in sensors],
                "scale_freq": [sen["scale_freq"] for sen in sensors],
                "scale_units": [sen["scale_units"] for sen in sensors],
                "sample_rate": cha_rate,
            }
        )

        # segments, event-major then channel
        n_seg = events * n_cha
        seg_ev = np.repeat(np.arange(events), n_cha)
        seg_cha = np.tile(np.arange(n_cha), events)
        seg_sta = cha_sta[seg_cha]
        dist_es = _great_circle_deg(
            ev["lat"][:, None], ev["lon"][:, None], sta["lat"][None, :], sta["lon"][None, :]
        )
        dist = dist_es[seg_ev, seg_sta]
        ttime = _p_travel_time(dist, ev["depth"][seg_ev])
        arrival = ev["time_us"][seg_ev] + np.round(ttime * _US).astype(np.int64)
        dur_us = int(round(duration_sec * _US))
        req_start = (arrival - dur_us // 3) // _US * _US  # floored to the second
        req_end = req_start + dur_us

        counts = _exact_counts(n_seg, np.array([o[2] for o in _OUTCOMES]))
        kinds = np.concatenate(
            [np.full(n_seg - counts.sum(), _OK, dtype=np.int8)]
            + [np.full(c, o[0], dtype=np.int8) for o, c in zip(_OUTCOMES, counts, strict=True)]
        )
        kinds = rng_seg.permutation(kinds)
        code_of = np.array([200] + [_NULL_CODE if o[1] is None else o[1] for o in _OUTCOMES])
        codes = code_of[kinds]
        decodable = kinds <= _TRIM  # times, seed id, sample rate and maxgap are known

        # data window vs request window (seconds, scaled to the window length), ms resolution
        scale = duration_sec / 240.0
        off_start = np.where(
            rng_seg.random(n_seg) < 0.12,
            rng_seg.uniform(0.0, 25.0, n_seg),  # data starting late
            rng_seg.uniform(-12.0, 0.5, n_seg),  # records starting before the window
        )
        off_end = np.where(
            rng_seg.random(n_seg) < 0.10,
            rng_seg.uniform(-25.0, 0.0, n_seg),  # data ending early
            rng_seg.uniform(-1.0, 14.0, n_seg),
        )
        trimmed = kinds == _TRIM  # records outside the window dropped
        off_start = np.where(trimmed, rng_seg.uniform(0.0, 5.0, n_seg), off_start) * scale
        off_end = np.where(trimmed, rng_seg.uniform(-5.0, 0.0, n_seg), off_end) * scale
        start = req_start + np.round(off_start * 1000).astype(np.int64) * 1000
        rate = cha_rate[seg_cha]
        span = (req_end + np.round(off_end * _US).astype(np.int64) - start) / _US
        npts = np.maximum(np.floor(span * rate).astype(np.int64) + 1, 8)
        end = start + np.round((npts - 1) / rate * _US).astype(np.int64)
        max_gap = np.maximum(np.minimum(npts // 5, (20 * rate).astype(np.int64)), 1)
        gap_draw = np.floor(rng_seg.random(n_seg) * max_gap).astype(np.int64) + 1
        gap = np.where(kinds == _GAP, gap_draw, 0)
        queryauth = rng_seg.random(n_seg) < 0.01
        n_downloads = 1 if events == 1 else 2
        download_id = np.where(rng_dl.random(n_seg) < 0.15, n_downloads, 1)
        downloads = _downloads(rng_dl, n_downloads, int(ev["time_us"].max()), events, stations)

        nslc = pl.DataFrame({k: [c[j] for c in cha_nslc] for j, k in enumerate("nslc")}).select(
            seed_id=pl.concat_str(["n", "s", "l", "c"], separator=".")
        )["seed_id"]
        segments = pl.DataFrame(
            {
                "id": np.arange(1, n_seg + 1),
                "event_id": seg_ev + 1,
                "channel_id": seg_cha + 1,
                "datacenter_id": sta["datacenter"][seg_sta] + 1,
                "data_seed_id": nslc.gather(seg_cha),
                "event_distance_deg": dist,
                "download_code": codes,
                "start_time": _dt(start),
                "arrival_time": _dt(arrival),
                "end_time": _dt(end),
                "sample_rate": rate,
                "maxgap_numsamples": gap.astype(np.float64),
                "download_id": download_id,
                "request_start": _dt(req_start),
                "request_end": _dt(req_end),
                "queryauth": queryauth,
                "_ok": decodable,
            }
        )
        nullable = ("data_seed_id", "start_time", "end_time", "sample_rate", "maxgap_numsamples")
        segments = segments.with_columns(
            *(pl.when(pl.col("_ok")).then(pl.col(c)).alias(c) for c in nullable),
            pl.when(pl.col("download_code") != _NULL_CODE)
            .then(pl.col("download_code"))
            .alias("download_code"),
        ).drop("_ok")

        tables = {
            "web_services": pl.DataFrame(
                {
                    "id": [1],
                    "name": ["emsc"],
                    "type": ["event"],
                    "url": ["https://www.seismicportal.eu/fdsnws/event/1/query"],
                }
            ),
            "data_centers": pl.DataFrame(
                {
                    "id": [1, 2],
                    "station_url": [d[0] for d in _DATA_CENTERS],
                    "dataselect_url": [d[1] for d in _DATA_CENTERS],
                    "organization_name": [d[2] for d in _DATA_CENTERS],
                }
            ),
            "downloads": downloads,
            "events": ev["frame"],
            "stations": sta["frame"],
            "channels": channels,
            "segments": segments,
            "classes": pl.DataFrame(
                {
                    "id": np.arange(1, len(_CLASSES) + 1),
                    "label": [c[0] for c in _CLASSES],
                    "description": [c[1] for c in _CLASSES],
                }
            ),
            "class_labellings": _labellings(rng_lab, np.flatnonzero(decodable)),
        }
        return cls(
            tables=tables,
            sta_network=sta["network"],
            sta_code=sta["station"],
            sta_lat=sta["lat"],
            sta_lon=sta["lon"],
            sta_elevation=sta["elevation"],
            sta_depth=sta["depth"],
            sta_start_us=sta["start_us"],
            sta_site=sta["site"],
            sta_has_inventory=sta["has_inventory"],
            sta_channels=sta_channels,
            created_us=int(downloads["run_time"].dt.epoch("us")[0]),
            template=template,
            cha_nslc=cha_nslc,
            seg_kind=kinds,
            seg_channel=seg_cha,
            seg_station=seg_sta,
            seg_npts=npts,
            seg_gap=gap,
            seg_start_us=start,
            seg_arrival_rel=(arrival - start) / _US,
            seg_travel_time=ttime,
            seg_magnitude=ev["magnitude"][seg_ev],
            seg_distance=dist,
            seg_rate=rate,
            seg_vertical=np.array([c[3].endswith("Z") for c in cha_nslc])[seg_cha],
            seed=seed,
        )


def _events(rng: np.random.Generator, n: int) -> dict[str, Any]:
    weights = np.array([r[7] for r in _REGIONS])
    region = rng.choice(len(_REGIONS), size=n, p=weights / weights.sum())

    def col(k: int) -> np.ndarray:
        return np.array([r[k] for r in _REGIONS])[region]

    spread = col(3)
    lat = np.round(np.clip(col(1) + rng.normal(0.0, 1.0, n) * spread, -89.9, 89.9), 4)
    lon = np.round((col(2) + rng.normal(0.0, 1.0, n) * spread + 180.0) % 360.0 - 180.0, 4)
    mean_depth = col(5)
    depth = np.round(np.clip(rng.gamma(2.0, mean_depth / 2.0), 1.0, 700.0), 1)
    depth = np.where((rng.random(n) < 0.25) & (mean_depth < 60), 10.0, depth)  # fixed depth
    # truncated Gutenberg-Richter (b = 1) between the region minimum and 8.5
    mmin = col(4)
    u = rng.random(n)
    mag = np.clip(np.round(mmin - np.log10(1 - u * (1 - 10.0 ** (mmin - 8.5))), 1), mmin, 8.5)
    r = rng.random(n)
    local = mmin < 5
    mag_type = np.where(
        local,
        np.where(mag < 4.0, "ML", np.where(mag < 5.5, np.where(r < 0.5, "ML", "mb"), "Mw")),
        np.where((mag < 5.8) & (r < 0.7), "mb", "Mw"),
    )
    time_us = np.sort(rng.integers(_EPOCH_2015, _EPOCH_2022, n)) // 100_000 * 100_000  # 0.1 s
    number = 100_000 + np.cumsum(rng.integers(1, 400, n))
    contributor = col(6)
    times = _dt(time_us)
    frame = pl.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "webservice_id": np.ones(n, dtype=np.int64),
            "event_id": times.dt.strftime("%Y%m%d")
            + "_"
            + pl.Series(number).cast(pl.String).str.zfill(7),
            "time": times,
            "latitude": lat,
            "longitude": lon,
            "depth_km": depth,
            "author": ["EMSC"] * n,
            "catalog": ["EMSC-RTS"] * n,
            "contributor": contributor.tolist(),
            "contributor_id": rng.integers(100_000, 1_000_000, n).astype(str).tolist(),
            "mag_type": mag_type.tolist(),
            "magnitude": mag,
            "mag_author": contributor.tolist(),
            "event_location_name": col(0).tolist(),
            "event_type": ["earthquake"] * n,
        }
    )
    return {
        "frame": frame,
        "lat": lat,
        "lon": lon,
        "depth": depth,
        "time_us": time_us,
        "magnitude": mag,
    }


_SYLLABLES_A = ("Ber", "Mon", "Val", "San", "Ros", "Kor", "Lin", "Mar", "Tor", "Gal", "Ruh", "Alt")
_SYLLABLES_B = ("do", "ra", "ten", "berg", "ino", "ville", "ia", "os", "heim", "ec", "au", "eto")


def _stations(rng: np.random.Generator, n: int) -> dict[str, Any]:
    net = np.arange(n) % len(_NETWORKS)

    def col(k: int) -> np.ndarray:
        return np.array([x[k] for x in _NETWORKS])[net]

    codes = _letters(rng.choice(26**3 + 26**4, size=n, replace=False))
    lat = np.round(rng.uniform(col(2).astype(float), col(3).astype(float)), 4)
    lon = np.round(rng.uniform(col(4).astype(float), col(5).astype(float)), 4)
    elevation = np.round(rng.uniform(0.0, col(6).astype(float)), 1)
    depth = np.where(rng.random(n) < 0.7, 0.0, np.round(rng.uniform(1.0, 120.0, n), 0))
    start_us = (
        int(np.datetime64("1995-01-01", "us").astype(np.int64))
        + rng.integers(0, 20 * 365, n) * 86_400 * _US
    )
    a = rng.integers(0, len(_SYLLABLES_A), n)
    b = rng.integers(0, len(_SYLLABLES_B), n)
    no_site = rng.random(n) < 0.1
    countries = col(7).tolist()
    site: list[str | None] = [
        None if ns else (_SYLLABLES_A[i] + _SYLLABLES_B[j] + (f", {c}" if c else ""))
        for i, j, c, ns in zip(a.tolist(), b.tolist(), countries, no_site.tolist(), strict=True)
    ]
    location = np.where(rng.random(n) < 0.75, "", "00").tolist()
    network = col(0).tolist()
    datacenter = col(1).astype(np.int64)
    frame = pl.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "datacenter_id": datacenter + 1,
            "network": network,
            "station": codes,
            "latitude": lat,
            "longitude": lon,
            "elevation": elevation,
            "site_name": pl.Series(site, dtype=pl.String),
            "start_time": _dt(start_us),
            "end_time": pl.Series([None] * n, dtype=pl.Datetime("us")),
        }
    )
    return {
        "frame": frame,
        "network": network,
        "station": codes,
        "lat": lat,
        "lon": lon,
        "elevation": elevation,
        "depth": depth,
        "start_us": start_us,
        "site": site,
        "location": location,
        "datacenter": datacenter,
        "has_inventory": np.arange(n) % 7 != 3,
    }


_ORIENTATION = {"Z": (0.0, -90.0), "N": (0.0, 0.0), "E": (90.0, 0.0)}


def _channel_layout(
    rate_index: int, location: str, count: int, rates: tuple[float, ...]
) -> list[tuple[str, str, float, float, float]]:
    """Channels (location, code, rate, azimuth, dip) of a station: Z, N, E per band."""
    locations = [location] + [f"{k}0" for k in range(1, 10)]
    used: set[tuple[str, str]] = set()
    out = []
    for k in range(count):
        rate = rates[(rate_index + k // 3) % len(rates)]
        comp = "ZNE"[k % 3]
        code = _band_code(rate) + "H" + comp
        loc = next((x for x in locations if (x, code) not in used), None)
        if loc is None:
            raise ValueError(f"too many channels per station ({count}) for sample rates {rates}")
        used.add((loc, code))
        out.append((loc, code, rate, *_ORIENTATION[comp]))
    return out


def _downloads(
    rng: np.random.Generator, count: int, last_event_us: int, events: int, stations: int
) -> pl.DataFrame:
    day = 86_400 * _US
    first = (
        (last_event_us // day + int(rng.integers(2, 30))) * day
        + int(rng.integers(6 * 3600, 20 * 3600)) * _US
        + int(rng.integers(0, _US))
    )
    run_times = [
        first + k * (int(rng.integers(3, 12)) * day + int(rng.integers(0, 3600 * _US)))
        for k in range(count)
    ]
    configs, logs = [], []
    for k in range(count):
        retry = "true" if k else "false"
        configs.append(
            "events_url: emsc\n"
            "start: 2015-01-01T00:00:00\n"
            "end: 2022-01-01T00:00:00\n"
            "minmagnitude: 3.0\n"
            "network: GE,IV,CH,FR,GR,MN,HL,NL\n"
            "channel: HH?,BH?\n"
            "min_sample_rate: 0\n"
            "dataws: eida\n"
            "traveltimes_model: iasp91_tt\n"
            "timespan: [1.33, 2.67]\n"
            "search_radius: {minmag: 6, maxmag: 7, minmag_radius: 3, maxmag_radius: 3}\n"
            "update_metadata: false\n"
            "inventory: true\n"
            f"retry_seg_not_found: {retry}\n"
            f"retry_url_err: {retry}\n"
            "retry_mseed_err: false\n"
            "retry_client_err: false\n"
            f"retry_server_err: {retry}\n"
            f"retry_timespan_err: {retry}\n"
            "advanced_settings:\n"
            "  routing_service_url: http://www.orfeus-eu.org/eidaws/routing/1/query\n"
            "  max_concurrent_downloads: 4\n"
            "  s_timeout: 120\n"
            "  i_timeout: 60\n"
            "  w_timeout: 30\n"
            "  download_blocksize: 1048576\n"
            "  db_buf_size: 800\n"
        )
        logs.append(
            "[INFO]  \nSTEP 1 of 8: Fetching events\n"
            f"[INFO]  Db table 'events': {events} new row(s) inserted (no sql error)\n"
            "[INFO]  \nSTEP 2 of 8: Fetching data-centers\n"
            "[INFO]  \nSTEP 3 of 8: Fetching stations and channels\n"
            f"[INFO]  Db table 'stations': {stations} new row(s) inserted (no sql error)\n"
            "[INFO]  \nSTEP 4 of 8: Selecting stations within search area\n"
            "[INFO]  \nSTEP 5 of 8: Fetching waveforms\n"
            "[WARNING]  Discarding response (malformed miniSEED)\n"
            "[INFO]  \nSTEP 6 of 8: Fetching station inventories\n"
            "[INFO]  Completed in 0:42:17\n"
        )
    return pl.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "run_time": _dt(np.array(run_times, dtype=np.int64)),
            "log": logs,
            "warnings": rng.integers(0, 40, count),
            "errors": rng.integers(0, 3, count),
            "config": configs,
            "program_version": ["3.0.1"] * count,
        }
    )


def _labellings(rng: np.random.Generator, candidates: np.ndarray) -> pl.DataFrame:
    """A few class labels on segments with data, some segments with two."""
    schema = {
        "id": pl.Int64,
        "segment_id": pl.Int64,
        "class_id": pl.Int64,
        "is_hand_labelled": pl.Boolean,
        "annotator": pl.String,
    }
    n = min(candidates.size, max(3, candidates.size // 100))
    if n == 0:
        return pl.DataFrame(schema=schema)
    seg = np.sort(rng.choice(candidates, size=n, replace=False))
    first = rng.choice(np.array(_FIRST_LABELS), size=n, p=[0.5, 0.25, 0.15, 0.1])
    two = rng.random(n) < 0.25
    if n >= 2:
        two[0] = True
    second = rng.choice(np.array(_SECOND_LABELS), size=n)
    seg_ids = np.concatenate([seg, seg[two]])
    class_idx = np.concatenate([first, second[two]])
    order = np.lexsort((class_idx, seg_ids))
    m = order.size
    hand = rng.random(m) < 0.8
    who = rng.integers(0, len(_ANNOTATORS), m)
    return pl.DataFrame(
        {
            "id": np.arange(1, m + 1),
            "segment_id": seg_ids[order] + 1,
            "class_id": class_idx[order] + 1,
            "is_hand_labelled": hand,
            "annotator": [
                _ANNOTATORS[w] if h else None
                for w, h in zip(who.tolist(), hand.tolist(), strict=True)
            ],
        },
        schema=schema,
    )


# --------------------------------------------------------------------------- StationXML


@lru_cache(maxsize=1)
def _templates() -> dict[float, Any]:
    """Channels of ObsPy's example inventory (real responses) by sample rate, latest epoch."""
    import obspy

    out: dict[float, Any] = {}
    for net in obspy.read_inventory():  # BW.RJOB, GR.FUR, GR.WET: STS-2 and others
        for sta in net:
            for cha in sta:
                if cha.sample_rate not in out or cha.end_date is None:
                    out[cha.sample_rate] = cha
    return out


@lru_cache(maxsize=64)
def _template_channel(rate: float) -> tuple[Any, dict[str, Any]]:
    """The template channel closest in sample rate, and its channels-table metadata."""
    templates = _templates()
    best = min(templates, key=lambda r: abs(np.log(r / rate)))
    return _with_sensor(templates[best])


def _channel_template(template: bytes | None, rate: float, code: str) -> tuple[Any, dict[str, Any]]:
    """Template channel (and its channels-table metadata) of a generated channel."""
    if template is None:
        return _template_channel(rate)
    return _user_template_channel(template, rate, code)


def _read_template(source: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """``inventory_template`` -> decompressed StationXML bytes (checked usable), or None."""
    if source is None:
        return None
    from ._decode import decompress

    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            source = file.read()
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"inventory_template must be bytes, a path or None, not {type(source).__name__}"
        )
    xml = decompress(bytes(source))
    _user_templates(xml)  # raises ValueError if unusable
    return xml


@lru_cache(maxsize=4)
def _user_templates(xml: bytes) -> tuple[Any, ...]:
    """Channels of a StationXML with a response and a sample rate, latest epoch of each."""
    import obspy

    try:
        inventory = obspy.read_inventory(io.BytesIO(xml), format="STATIONXML")
    except Exception as exc:  # noqa: BLE001 - lxml and ObsPy errors alike
        raise ValueError(f"inventory_template is not a readable StationXML: {exc}") from None
    latest: dict[tuple[str, str, str, str], Any] = {}
    for net in inventory:
        for sta in net:
            for cha in sta:
                response = cha.response
                if response is None or not response.response_stages or not cha.sample_rate:
                    continue
                if response.instrument_sensitivity is None:
                    continue
                key = (net.code, sta.code, cha.location_code, cha.code)
                prev = latest.get(key)
                if prev is None or (
                    prev.end_date is not None
                    and (cha.end_date is None or cha.end_date > prev.end_date)
                ):
                    latest[key] = cha
    if not latest:
        raise ValueError("inventory_template has no channel with a response and a sample rate")
    return tuple(latest.values())


@lru_cache(maxsize=256)
def _user_template_channel(xml: bytes, rate: float, code: str) -> tuple[Any, dict[str, Any]]:
    """The channel of ``xml`` closest in sample rate to ``rate``; among those, the first
    with the same code, else instrument code, else component (deterministic)."""
    channels = _user_templates(xml)
    best = min({c.sample_rate for c in channels}, key=lambda r: (abs(np.log(r / rate)), r))
    candidates = [c for c in channels if c.sample_rate == best]
    cha = max(
        candidates,
        key=lambda c: (c.code == code, c.code[1:2] == code[1:2], c.code[2:] == code[2:]),
    )
    return _with_sensor(cha)


def _with_sensor(cha: Any) -> tuple[Any, dict[str, Any]]:
    """A template channel and its channels-table metadata (sensor, scale)."""
    sens = cha.response.instrument_sensitivity
    sensor = cha.sensor
    return cha, {
        "description": (sensor.type or sensor.description) if sensor is not None else None,
        "scale": float(sens.value),
        "scale_freq": float(sens.frequency),
        "scale_units": sens.input_units,
    }


def _inventory_xml(plan: _Plan, i: int) -> bytes:
    """Gzip-compressed StationXML (response level, all channels) of station ``i``."""
    from obspy import UTCDateTime
    from obspy.core.inventory import Inventory, Network, Site, Station

    start = UTCDateTime(ns=int(plan.sta_start_us[i]) * 1000)
    lat, lon = float(plan.sta_lat[i]), float(plan.sta_lon[i])
    elev, depth = float(plan.sta_elevation[i]), float(plan.sta_depth[i])
    channels = []
    for loc, code, rate, azimuth, dip in plan.sta_channels[i]:
        cha = copy.deepcopy(_channel_template(plan.template, rate, code)[0])
        cha.code, cha.location_code = code, loc
        cha.latitude, cha.longitude, cha.elevation, cha.depth = lat, lon, elev, depth
        cha.azimuth, cha.dip, cha.sample_rate = azimuth, dip, rate
        cha.start_date, cha.end_date = start, None
        channels.append(cha)
    station = Station(
        plan.sta_code[i],
        lat,
        lon,
        elev,
        channels=channels,
        site=Site(name=plan.sta_site[i] or plan.sta_code[i]),
        start_date=start,
        creation_date=start,
    )
    inv = Inventory(
        networks=[Network(plan.sta_network[i], stations=[station])],
        source="s2sframe.testing",
        created=UTCDateTime(ns=plan.created_us * 1000),
    )
    buf = io.BytesIO()
    inv.write(buf, format="STATIONXML")
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)


# --------------------------------------------------------------------------- waveforms


_BANK = 1 << 18  # samples of each noise bank (periodic: slices wrap around seamlessly)


@lru_cache(maxsize=8)
def _micro_bank(seed: int, rate: float) -> np.ndarray:
    """Unit-variance microseismic noise (peaks at ~0.2 and ~0.07 Hz) sampled at ``rate``."""
    rng = np.random.default_rng([seed, 6, int(round(rate * 1e6))])
    spectrum = np.fft.rfft(rng.standard_normal(_BANK))
    freqs = np.fft.rfftfreq(_BANK, d=1.0 / rate)
    shape = np.exp(-0.5 * ((freqs - 0.2) / 0.05) ** 2) + 0.3 * np.exp(
        -0.5 * ((freqs - 0.07) / 0.02) ** 2
    )
    bank = np.fft.irfft(spectrum * shape, n=_BANK)
    bank = (bank / bank.std()).astype(np.float32)
    bank.flags.writeable = False  # shared by every call with the same arguments
    return bank


class _Waveforms:
    """Makes the miniSEED bytes of each segment of a plan (deterministic, in any order)."""

    def __init__(self, plan: _Plan) -> None:
        rng = np.random.default_rng([plan.seed, 5])
        n_sta, n_seg = plan.sta_lat.size, plan.seg_kind.size
        self.plan = plan
        self.white_bank = rng.standard_normal(_BANK).astype(np.float32)
        self.white = rng.uniform(4.0, 40.0, n_sta)
        self.micro_amp = rng.uniform(300.0, 3000.0, n_sta)
        self.offset = rng.uniform(-800.0, 800.0, n_sta)
        self.reclen = np.where(rng.random(n_sta) < 0.7, 512, 4096)
        self.starts = rng.integers(0, _BANK, (n_seg, 2))
        self.phase = rng.uniform(0.0, 2 * np.pi, n_seg)
        self.freq_factor = rng.uniform(0.7, 1.4, n_seg)
        self.split = rng.uniform(0.2, 0.8, n_seg)

    def __call__(self, i: int) -> bytes | None:
        p = self.plan
        kind = int(p.seg_kind[i])
        if kind > _CORRUPT:
            return None
        s = int(p.seg_station[i])
        rate, npts, gap = float(p.seg_rate[i]), int(p.seg_npts[i]), int(p.seg_gap[i])
        data = self._samples(i, s, rate, npts)
        nslc = p.cha_nslc[int(p.seg_channel[i])]
        start_ns = int(p.seg_start_us[i]) * 1000
        reclen = int(self.reclen[s])
        if gap:
            n1 = max(1, int(self.split[i] * (npts - gap)))
            second_ns = start_ns + int(round((n1 + gap) / rate * 1e9))
            raw = _pack(nslc, rate, reclen, start_ns, data[:n1]) + _pack(
                nslc, rate, reclen, second_ns, data[n1 + gap :]
            )
        else:
            raw = _pack(nslc, rate, reclen, start_ns, data)
        if kind == _CORRUPT:  # what a broken server or proxy may return
            if i % 2:
                return b"<html><body><h1>502 Bad Gateway</h1></body></html>\n" + raw[:2048]
            junk = np.frombuffer(raw[:48], dtype=np.uint8) % 26 + 65
            return junk.astype(np.uint8).tobytes() + raw[48:]
        return raw

    def _samples(self, i: int, s: int, rate: float, npts: int) -> np.ndarray:
        """Counts: offset + microseisms + white noise + P (and S) wavelets."""
        p = self.plan
        a, b = self.starts[i]
        x = self.offset[s] + self.micro_amp[s] * np.take(
            _micro_bank(p.seed, rate), np.arange(a, a + npts), mode="wrap"
        ).astype(np.float64)
        x += self.white[s] * np.take(self.white_bank, np.arange(b, b + npts), mode="wrap")
        mag, dist = float(p.seg_magnitude[i]), max(float(p.seg_distance[i]), 0.3)
        amp = 10.0 ** (0.9 * mag - 1.5 * np.log10(dist) + 0.8)
        freq = min(max(4.0 / (1.0 + dist / 10.0), 0.3), 0.4 * rate) * self.freq_factor[i]
        decay = 5.0 + 6.0 * (mag - 3.0)
        t_p = float(p.seg_arrival_rel[i])
        vertical = bool(p.seg_vertical[i])
        arrivals = [(t_p, amp * (1.0 if vertical else 0.5), freq)]
        if dist < 100:  # S at ~1.73 times the P travel time
            t_s = t_p + 0.73 * float(p.seg_travel_time[i])
            arrivals.append((t_s, amp * (0.8 if vertical else 1.5), 0.6 * freq))
        for t0, a0, f in arrivals:
            k0 = max(0, int(np.ceil(t0 * rate)))
            k1 = min(npts, k0 + int(decay * np.log(max(a0, 1.0) / 0.5) * rate) + 1)
            if k0 >= k1:
                continue
            tau = np.arange(k0, k1) / rate - t0
            env = a0 * (1.0 - np.exp(-tau / 0.4)) * np.exp(-tau / decay)
            w = 2 * np.pi * f * tau
            x[k0:k1] += env * (np.sin(w) + 0.5 * np.sin(1.7 * w + self.phase[i]))
        return np.clip(np.rint(x), -(2**23), 2**23 - 1).astype(np.int32)


def _pack(
    nslc: tuple[str, str, str, str], rate: float, reclen: int, start_ns: int, data: np.ndarray
) -> bytes:
    """Steim2 miniSEED 2 records of one trace (libmseed through pymseed)."""
    from pymseed import DataEncoding, MS3Record, nslc2sourceid

    msr = MS3Record(reclen=reclen, encoding=DataEncoding.STEIM2)
    msr.formatversion = 2
    msr.sourceid = nslc2sourceid(*nslc)
    msr.samprate = rate
    msr.starttime = start_ns
    records = list(msr.generate(np.ascontiguousarray(data, dtype=np.int32), "i"))
    # libmseed writes sequence number 000000 everywhere: number records from 1 like dataloggers
    return b"".join(b"%06d" % (k % 1_000_000) + r[6:] for k, r in enumerate(records, 1))


# --------------------------------------------------------------------------- writing

_TS_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"  # SQLAlchemy's SQLite DATETIME storage format


class _Writer:
    """Bulk inserts through the raw DBAPI connection (SQLite executemany, PostgreSQL COPY)."""

    def __init__(self, engine: sa.engine.Engine, *, unjournaled: bool = False) -> None:
        self.engine = engine
        self.unjournaled = unjournaled  # SQLite file holding only our tables: no journal
        self.sqlite = engine.dialect.name == "sqlite"
        self.postgres = engine.dialect.name == "postgresql"

    def __enter__(self) -> _Writer:
        self.raw = self.engine.raw_connection()
        self.cur = self.raw.cursor()
        if self.sqlite:
            self.cur.execute("PRAGMA foreign_keys=ON")
            if self.unjournaled:  # a crash could corrupt the file: only ours in it
                self.cur.execute("PRAGMA journal_mode=OFF")
                self.cur.execute("PRAGMA synchronous=OFF")
        # COPY FROM STDIN: psycopg 3 (SQLAlchemy 2.1's default) has cursor.copy(),
        # psycopg2 cursor.copy_expert(); other drivers get executemany.
        self.copy = self.postgres and (
            hasattr(self.cur, "copy") or hasattr(self.cur, "copy_expert")
        )
        self.placeholder = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        return self

    def insert(self, table: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        if self.copy:
            hexa = [  # bytea input format: \\x then hex digits
                pl.concat_str([pl.lit("\\x"), pl.col(c).bin.encode("hex")]).alias(c)
                for c, dtype in frame.schema.items()
                if dtype == pl.Binary
            ]
            text = frame.with_columns(pl.col(pl.Datetime).dt.strftime(_TS_FORMAT), *hexa).write_csv(
                include_header=False
            )
            sql = f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT csv)'
            if hasattr(self.cur, "copy_expert"):  # psycopg2
                self.cur.copy_expert(sql, io.StringIO(text))
            else:  # psycopg 3
                with self.cur.copy(sql) as copy:
                    copy.write(text)
            return
        if self.sqlite:
            frame = frame.with_columns(
                pl.col(pl.Datetime).dt.strftime(_TS_FORMAT), pl.col(pl.Boolean).cast(pl.Int64)
            )
        marks = ", ".join([self.placeholder] * frame.width)
        rows = zip(*(s.to_list() for s in frame.iter_columns()), strict=True)
        self.cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)

    @contextmanager
    def bulk_load(self, table: str) -> Iterator[None]:
        """Load ``table`` with its FOREIGN KEY and UNIQUE constraints lifted (PostgreSQL).

        They are restored identically (same names and definitions) at the end of the
        block, in the same transaction, validating all rows at once: several times
        faster than checking row by row. On error the transaction rolls back.
        """
        if not self.postgres:
            yield
            return
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conrelid = '\"{table}\"'::regclass AND contype IN ('u', 'f') "
            "ORDER BY contype DESC, conname"
        )
        constraints = self.cur.fetchall()
        for name, _ in constraints:
            self.cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        yield
        for name, definition in constraints:  # UNIQUE first, then FOREIGN KEYs
            self.cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')

    def finish(self, tables: list[str]) -> None:
        if self.postgres:  # explicit ids were written: move the id sequences past them
            for t in tables:
                self.cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), "
                    f'COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{t}"'
                )
        self.raw.commit()
        if self.postgres:  # planner statistics now, not when autovacuum gets to it
            self.cur.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))
            self.raw.commit()

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is not None:
                self.raw.rollback()
        finally:
            self.cur.close()
            self.raw.close()


def _chunks(height: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, height, size):
        yield lo, min(lo + size, height)


def _write(writer: _Writer, plan: _Plan, *, metadata_only: bool, legacy: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _TABLE_ORDER:
        frame = plan.tables[name]
        if name == "events" and legacy:
            frame = frame.drop("event_type")
        if name == "stations":
            xml = [
                _inventory_xml(plan, i) if (ok and not metadata_only) else None
                for i, ok in enumerate(plan.sta_has_inventory.tolist())
            ]
            frame = frame.with_columns(inventory_xml=pl.Series(xml, dtype=pl.Binary))
        if name == "segments":
            _write_segments(writer, plan, frame, metadata_only=metadata_only)
        else:
            for lo, hi in _chunks(frame.height, 100_000):
                writer.insert(name, frame.slice(lo, hi - lo))
        counts[name] = frame.height
    writer.finish(list(_TABLE_ORDER))
    return counts


def _write_segments(
    writer: _Writer, plan: _Plan, frame: pl.DataFrame, *, metadata_only: bool
) -> None:
    with writer.bulk_load("segments"):
        if metadata_only:
            frame = frame.with_columns(data=pl.lit(None, dtype=pl.Binary))
            for lo, hi in _chunks(frame.height, 100_000):
                writer.insert("segments", frame.slice(lo, hi - lo))
            return
        make = _Waveforms(plan)
        for lo, hi in _chunks(frame.height, 1000):
            blobs = pl.Series([make(i) for i in range(lo, hi)], dtype=pl.Binary)
            writer.insert("segments", frame.slice(lo, hi - lo).with_columns(data=blobs))


# --------------------------------------------------------------------------- database setup


def _legacy_metadata() -> sa.MetaData:
    """The stream2segment tables as written before ``events.event_type`` existed."""
    md = sa.MetaData()
    for name in _TABLE_ORDER:
        table = metadata.tables[name]
        if name != "events":
            table.to_metadata(md)
            continue
        columns = [
            sa.Column(
                c.name,
                c.type,
                *(
                    sa.ForeignKey(fk.target_fullname, ondelete=fk.ondelete, onupdate=fk.onupdate)
                    for fk in c.foreign_keys
                ),
                primary_key=c.primary_key,
                nullable=c.nullable,
            )
            for c in table.columns
            if c.name != "event_type"
        ]
        uniques = [
            sa.UniqueConstraint(*(c.name for c in con.columns), name=con.name)
            for con in table.constraints
            if isinstance(con, sa.UniqueConstraint)
        ]
        sa.Table(name, md, *columns, *uniques)
    return md


def _prepare_database(url: URL, *, overwrite: bool, legacy: bool) -> tuple[sa.engine.Engine, bool]:
    """Create empty stream2segment tables in ``url``.

    Return an engine and whether the database is a SQLite file holding nothing else.
    """
    path = url.database or ""
    if is_sqlite(url) and os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        try:
            names = set(sa.inspect(engine).get_table_names())
        except sa.exc.OperationalError as exc:
            raise DatabaseError(
                f"Cannot connect to {mask_url(url)}: {_first_line(exc, url)}"
            ) from None
        ours = [t for t in _TABLE_ORDER if t in names]
        if ours:
            with engine.connect() as conn:
                filled = [
                    t
                    for t in ours
                    if conn.execute(sa.text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None
                ]
                n_seg = (
                    conn.execute(sa.text('SELECT COUNT(*) FROM "segments"')).scalar_one()
                    if "segments" in ours
                    else 0
                )
            if filled and not overwrite:
                raise ValueError(
                    f"{mask_url(url)} already holds stream2segment data ({n_seg} segments, "
                    f"tables: {', '.join(filled)}): pass overwrite=True to replace it"
                )
            if is_sqlite(url) and names <= set(metadata.tables):
                engine.dispose()  # nothing else in the file: start a fresh one (no bloat)
                for suffix in ("", "-wal", "-shm", "-journal"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
            else:
                metadata.drop_all(engine, tables=[metadata.tables[t] for t in ours])
        if legacy:
            _legacy_metadata().create_all(engine)
        else:
            create_all(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, is_sqlite(url) and names <= set(metadata.tables)
