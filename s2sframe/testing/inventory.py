"""StationXML of :mod:`s2sframe.testing`: template channels with real responses (ObsPy's
example inventory or a user's ``inventory_template``) and each station's inventory.
"""

from __future__ import annotations

import copy
import gzip
import io
import os
from functools import lru_cache
from typing import Any

import numpy as np

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
    from ..decode import decompress

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


def _inventory_xml(
    *, network: str, code: str, site: str | None, lat: float, lon: float, elev: float,
    depth: float, start_us: int, channels: list[tuple[str, str, float, float, float]],
    created_us: int, template: bytes | None,
) -> bytes:
    """Gzip-compressed StationXML (response level, all ``channels``) of a station.

    ``channels``: (location, channel, sample rate, azimuth, dip); responses are
    copied from ``template`` (None: ObsPy's example inventory).
    """
    from obspy import UTCDateTime
    from obspy.core.inventory import Inventory, Network, Site, Station

    start = UTCDateTime(ns=start_us * 1000)
    built = []
    for loc, cha_code, rate, azimuth, dip in channels:
        cha = copy.deepcopy(_channel_template(template, rate, cha_code)[0])
        cha.code, cha.location_code = cha_code, loc
        cha.latitude, cha.longitude, cha.elevation, cha.depth = lat, lon, elev, depth
        cha.azimuth, cha.dip, cha.sample_rate = azimuth, dip, rate
        cha.start_date, cha.end_date = start, None
        built.append(cha)
    station = Station(
        code,
        lat,
        lon,
        elev,
        channels=built,
        site=Site(name=site or code),
        start_date=start,
        creation_date=start,
    )
    inv = Inventory(
        networks=[Network(network, stations=[station])],
        source="s2sframe.testing",
        created=UTCDateTime(ns=created_us * 1000),
    )
    buf = io.BytesIO()
    inv.write(buf, format="STATIONXML")
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)
