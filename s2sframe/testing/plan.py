"""The deterministic plan of a :mod:`s2sframe.testing` database: argument checks and
every row of every table (except waveforms and StationXML, made from the plan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .catalog import (
    _CLASSES,
    _DATA_CENTERS,
    _GAP,
    _NULL_CODE,
    _OK,
    _OUTCOMES,
    _TRIM,
    _US,
    _dt,
    _exact_counts,
    _great_circle_deg,
    _p_travel_time,
)
from .inventory import _channel_template, _inventory_xml
from .tables import _channel_layout, _downloads, _events, _labellings, _stations

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
        regional: bool = False,
    ) -> _Plan:
        # Independent random streams: the size of one table never shifts the values of another.
        rng_ev, rng_sta, rng_seg, rng_lab, rng_dl = (
            np.random.default_rng([seed, k]) for k in range(5)
        )
        ev = _events(rng_ev, events, regional)
        sta = _stations(rng_sta, stations, regional)
        cha = _Channels.build(sta, stations, channels_per_station, sample_rates, template)

        # segments, event-major then channel
        n_seg = events * cha.count
        seg_ev = np.repeat(np.arange(events), cha.count)
        seg_cha = np.tile(np.arange(cha.count), events)
        seg_sta = cha.station[seg_cha]
        dist_es = _great_circle_deg(
            ev["lat"][:, None], ev["lon"][:, None], sta["lat"][None, :], sta["lon"][None, :]
        )
        dist = dist_es[seg_ev, seg_sta]
        ttime = _p_travel_time(dist, ev["depth"][seg_ev])
        arrival = ev["time_us"][seg_ev] + np.round(ttime * _US).astype(np.int64)
        dur_us = int(round(duration_sec * _US))
        req_start = (arrival - dur_us // 3) // _US * _US  # floored to the second
        req_end = req_start + dur_us

        kinds = _outcome_kinds(rng_seg, n_seg)
        code_of = np.array([200] + [_NULL_CODE if o[1] is None else o[1] for o in _OUTCOMES])
        codes = code_of[kinds]
        decodable = kinds <= _TRIM  # times, seed id, sample rate and maxgap are known
        rate = cha.rate[seg_cha]
        start, npts, end, gap = _data_windows(rng_seg, kinds, req_start, req_end, rate,
                                              duration_sec)
        queryauth = rng_seg.random(n_seg) < 0.01
        n_downloads = 1 if events == 1 else 2
        download_id = np.where(rng_dl.random(n_seg) < 0.15, n_downloads, 1)
        downloads = _downloads(rng_dl, n_downloads, int(ev["time_us"].max()), events, stations)

        nslc = pl.DataFrame({k: [c[j] for c in cha.nslc] for j, k in enumerate("nslc")}).select(
            seed_id=pl.concat_str(["n", "s", "l", "c"], separator=".")
        )["seed_id"]
        segments = _segments_frame({
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
        }, decodable)
        tables = {
            **_fixed_tables(),
            "downloads": downloads,
            "events": ev["frame"],
            "stations": sta["frame"],
            "channels": cha.frame,
            "segments": segments,
            "class_labellings": _labellings(rng_lab, np.flatnonzero(decodable)),
        }
        return cls(
            tables={name: tables[name] for name in _TABLE_ORDER},
            sta_network=sta["network"],
            sta_code=sta["station"],
            sta_lat=sta["lat"],
            sta_lon=sta["lon"],
            sta_elevation=sta["elevation"],
            sta_depth=sta["depth"],
            sta_start_us=sta["start_us"],
            sta_site=sta["site"],
            sta_has_inventory=sta["has_inventory"],
            sta_channels=cha.layouts,
            created_us=int(downloads["run_time"].dt.epoch("us")[0]),
            template=template,
            cha_nslc=cha.nslc,
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
            seg_vertical=np.array([c[3].endswith("Z") for c in cha.nslc])[seg_cha],
            seed=seed,
        )

    def inventory_xml(self, i: int) -> bytes:
        """Gzip-compressed StationXML (response level, all channels) of station ``i``."""
        return _inventory_xml(
            network=self.sta_network[i], code=self.sta_code[i], site=self.sta_site[i],
            lat=float(self.sta_lat[i]), lon=float(self.sta_lon[i]),
            elev=float(self.sta_elevation[i]), depth=float(self.sta_depth[i]),
            start_us=int(self.sta_start_us[i]), channels=self.sta_channels[i],
            created_us=self.created_us, template=self.template,
        )


#: The order of the tables of a plan (the order in which they are written).
_TABLE_ORDER = ("web_services", "data_centers", "downloads", "events", "stations", "channels",
                "segments", "classes", "class_labellings")


@dataclass
class _Channels:
    """The channels of a plan: layouts per station, rows, and arrays by channel index."""

    layouts: list[list[tuple[str, str, float, float, float]]]  # per station
    station: np.ndarray  # station index of each channel
    rate: np.ndarray
    nslc: list[tuple[str, str, str, str]]
    frame: pl.DataFrame

    @property
    def count(self) -> int:
        return len(self.nslc)

    @classmethod
    def build(cls, sta: dict, stations: int, channels_per_station: int,
              sample_rates: tuple[float, ...], template: bytes | None) -> _Channels:
        # the layout of a station depends on its sample rate index and location
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
        frame = pl.DataFrame(
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
        return cls(sta_channels, cha_sta, cha_rate, cha_nslc, frame)


def _outcome_kinds(rng: np.random.Generator, n_seg: int) -> np.ndarray:
    """The outcome kind of each segment: exact counts of each, shuffled."""
    counts = _exact_counts(n_seg, np.array([o[2] for o in _OUTCOMES]))
    kinds = np.concatenate(
        [np.full(n_seg - counts.sum(), _OK, dtype=np.int8)]
        + [np.full(c, o[0], dtype=np.int8) for o, c in zip(_OUTCOMES, counts, strict=True)]
    )
    return rng.permutation(kinds)


def _data_windows(
    rng: np.random.Generator, kinds: np.ndarray, req_start: np.ndarray, req_end: np.ndarray,
    rate: np.ndarray, duration_sec: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(start us, samples, end us, gap samples) of the data of each segment."""
    n_seg = len(kinds)
    # data window vs request window (seconds, scaled to the window length), ms resolution
    scale = duration_sec / 240.0
    off_start = np.where(
        rng.random(n_seg) < 0.12,
        rng.uniform(0.0, 25.0, n_seg),  # data starting late
        rng.uniform(-12.0, 0.5, n_seg),  # records starting before the window
    )
    off_end = np.where(
        rng.random(n_seg) < 0.10,
        rng.uniform(-25.0, 0.0, n_seg),  # data ending early
        rng.uniform(-1.0, 14.0, n_seg),
    )
    trimmed = kinds == _TRIM  # records outside the window dropped
    off_start = np.where(trimmed, rng.uniform(0.0, 5.0, n_seg), off_start) * scale
    off_end = np.where(trimmed, rng.uniform(-5.0, 0.0, n_seg), off_end) * scale
    start = req_start + np.round(off_start * 1000).astype(np.int64) * 1000
    span = (req_end + np.round(off_end * _US).astype(np.int64) - start) / _US
    npts = np.maximum(np.floor(span * rate).astype(np.int64) + 1, 8)
    end = start + np.round((npts - 1) / rate * _US).astype(np.int64)
    max_gap = np.maximum(np.minimum(npts // 5, (20 * rate).astype(np.int64)), 1)
    gap_draw = np.floor(rng.random(n_seg) * max_gap).astype(np.int64) + 1
    gap = np.where(kinds == _GAP, gap_draw, 0)
    return start, npts, end, gap


def _segments_frame(columns: dict, decodable: np.ndarray) -> pl.DataFrame:
    """The segments table; what only decodable data give is null for the others."""
    segments = pl.DataFrame({**columns, "_ok": decodable})
    nullable = ("data_seed_id", "start_time", "end_time", "sample_rate", "maxgap_numsamples")
    return segments.with_columns(
        *(pl.when(pl.col("_ok")).then(pl.col(c)).alias(c) for c in nullable),
        pl.when(pl.col("download_code") != _NULL_CODE)
        .then(pl.col("download_code"))
        .alias("download_code"),
    ).drop("_ok")


def _fixed_tables() -> dict[str, pl.DataFrame]:
    """The tables every plan has the same: web service, data centers, classes."""
    return {
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
        "classes": pl.DataFrame(
            {
                "id": np.arange(1, len(_CLASSES) + 1),
                "label": [c[0] for c in _CLASSES],
                "description": [c[1] for c in _CLASSES],
            }
        ),
    }
