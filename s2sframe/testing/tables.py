"""Random rows of :mod:`s2sframe.testing`: events, stations, channel layouts, downloads
and class labellings, each from its own random stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from .catalog import (
    _ANNOTATORS,
    _EPOCH_2015,
    _EPOCH_2022,
    _FIRST_LABELS,
    _NETWORKS,
    _REGIONAL_BOX,
    _REGIONAL_MAGNITUDES,
    _REGIONAL_REGIONS,
    _REGIONS,
    _SECOND_LABELS,
    _US,
    _band_code,
    _dt,
    _letters,
)


def _events(rng: np.random.Generator, n: int, regional: bool = False) -> dict[str, Any]:
    weights = np.array([r[7] for r in _REGIONS])
    if regional:
        weights = np.where([r[0] in _REGIONAL_REGIONS for r in _REGIONS], weights, 0.0)
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
    mmin, mmax = col(4), 8.5
    if regional:
        mmin, mmax = np.full(n, _REGIONAL_MAGNITUDES[0]), _REGIONAL_MAGNITUDES[1]
    u = rng.random(n)
    mag = np.clip(
        np.round(mmin - np.log10(1 - u * (1 - 10.0 ** (mmin - mmax))), 1), mmin, mmax
    )
    r = rng.random(n)
    local = col(4) < 5
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


def _stations(rng: np.random.Generator, n: int, regional: bool = False) -> dict[str, Any]:
    net = np.arange(n) % len(_NETWORKS)

    def col(k: int) -> np.ndarray:
        return np.array([x[k] for x in _NETWORKS])[net]

    lat0, lat1, lon0, lon1 = (col(k).astype(float) for k in (2, 3, 4, 5))
    if regional:  # each network's box clipped to the region (unless they do not overlap)
        box = _REGIONAL_BOX
        c_lat0, c_lat1 = np.maximum(lat0, box[0]), np.minimum(lat1, box[1])
        c_lon0, c_lon1 = np.maximum(lon0, box[2]), np.minimum(lon1, box[3])
        inside = (c_lat0 < c_lat1) & (c_lon0 < c_lon1)
        lat0, lat1 = np.where(inside, c_lat0, lat0), np.where(inside, c_lat1, lat1)
        lon0, lon1 = np.where(inside, c_lon0, lon0), np.where(inside, c_lon1, lon1)
    codes = _letters(rng.choice(26**3 + 26**4, size=n, replace=False))
    lat = np.round(rng.uniform(lat0, lat1), 4)
    lon = np.round(rng.uniform(lon0, lon1), 4)
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
