"""The data served by :func:`s2sframe.testing.fdsn_server`: a regional catalog, stations
of two or three data centers with real responses, and continuous synthetic miniSEED.

Everything is deterministic for a given seed. Waveforms are continuous per channel
(chunks of :data:`CHUNK_SEC` seconds packed as 512-byte Steim2 records), so any time
window can be served, as a real archive does: whole records overlapping the window.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from .catalog import _great_circle_deg, _p_travel_time
from .inventory import _template_channel
from .waveforms import _BANK, _micro_bank, _pack

CHUNK_SEC = 60  # seconds of each packed chunk of a continuous channel
_NS = 1_000_000_000
#: networks of each data center (index); the last network of data center 0 is restricted
_DC_NETWORKS: tuple[tuple[str, ...], ...] = (("GE", "CH", "ZR"), ("IV", "MN"), ("FR", "NL"))
RESTRICTED_NETWORK = "ZR"
#: ``split_routing``: the first station of this network is moved to data center 1, and
#: the channels of this network's second epochs to data center 0 (routing rules say so)
STATION_SPLIT_NETWORK, TIME_SPLIT_NETWORK = "GE", "IV"
_FAR = ("1990-01-01T00:00:00", "2099-12-31T23:59:59")  # the routing rules' time span
_REGION = (42.5, 13.0)  # central Italy: events nearby, stations around (regional distances)


@dataclass(frozen=True)
class Event:
    """One catalog event."""

    event_id: str
    time: datetime
    latitude: float
    longitude: float
    depth_km: float
    magnitude: float
    mag_type: str
    location_name: str


@dataclass(frozen=True)
class Channel:
    """One channel of a station of a data center."""

    index: int
    datacenter: int
    network: str
    station: str
    location: str
    channel: str
    sample_rate: float
    latitude: float
    longitude: float
    elevation: float
    azimuth: float
    dip: float
    start: datetime
    end: datetime | None = None  # end of the epoch (None: open)
    home: int | None = None  # data center listing it too, without its data (None: none)

    @property
    def nslc(self) -> tuple[str, str, str, str]:
        return (self.network, self.station, self.location, self.channel)

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        """Whether the epoch overlaps [start, end] (None: open)."""
        return ((end is None or self.start <= end)
                and (start is None or self.end is None or self.end > start))

    @property
    def restricted(self) -> bool:
        return self.network == RESTRICTED_NETWORK


@dataclass(eq=False)  # hashable by identity (the chunk cache keys on it)
class Archive:
    """Catalog, stations and waveforms of the local FDSN server (see :meth:`build`)."""

    events: list[Event]
    channels: list[Channel]
    datacenters: int
    seed: int
    fast: bool = False  # same noise in every chunk, records patched from a template (benchmarks)
    change: datetime | None = None  # start of the second epochs (``epochs=True``)
    split_routing: bool = False
    _by_nslc: dict[tuple[str, str, str, str], list[Channel]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, *, events: int = 6, stations: int = 6, datacenters: int = 2, seed: int = 0,
        start: datetime = datetime(2021, 1, 1),  # noqa: B008 - immutable default
        days: float = 30.0, fast: bool = False, epochs: bool = False,
        split_routing: bool = False,
    ) -> Archive:
        """Draw a regional catalog and ``stations`` stations spread over the data centers.

        ``epochs``: every other station (index 1, 3, ...) has two epochs, the second from
        the middle of the catalog period (a new sensor 0.01 degree away: other
        coordinates and waveforms, the same channel codes). ``split_routing`` (two data
        centers or more): the routing service assigns the first station of network
        :data:`STATION_SPLIT_NETWORK` to data center 1 (a station rule) and, with
        ``epochs``, network :data:`TIME_SPLIT_NETWORK` to data center 0 from the epoch
        change (time rules); the station services of both list these channels, only the
        data center the rules name serves their waveforms.
        """
        rng = np.random.default_rng([seed, 101])
        ev_t = np.sort(rng.uniform(0, days * 86400, events))
        ev = [
            Event(
                event_id=f"s2stest{seed:02d}{k:05d}",
                time=(start + timedelta(seconds=float(t))).replace(microsecond=0)
                + timedelta(microseconds=int(rng.integers(0, 1000)) * 1000),
                latitude=round(float(_REGION[0] + rng.uniform(-1.5, 1.5)), 4),
                longitude=round(float(_REGION[1] + rng.uniform(-1.5, 1.5)), 4),
                depth_km=round(float(rng.uniform(5, 30)), 1),
                magnitude=round(float(3.0 + rng.exponential(0.6)), 1),
                mag_type="ML",
                location_name="CENTRAL ITALY",
            )
            for k, t in enumerate(ev_t)
        ]
        change = (start + timedelta(days=days / 2)).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
        nets = [n for d in range(datacenters) for n in _DC_NETWORKS[d]]
        dc_of = {n: d for d in range(datacenters) for n in _DC_NETWORKS[d]}
        chans: list[Channel] = []
        for s in range(stations):
            net = nets[s % len(nets)]
            code = f"S{s:03d}"
            lat = round(float(_REGION[0] + rng.uniform(-5, 5)), 4)
            lon = round(float(_REGION[1] + rng.uniform(-5, 5)), 4)
            elev = round(float(rng.uniform(0, 1500)), 1)
            rate, band = (20.0, "B") if s % 4 == 3 else (100.0, "H")
            loc = "00" if s % 5 == 4 else ""
            layout = [(band + "HZ", rate, 0.0, -90.0), (band + "HN", rate, 0.0, 0.0),
                      (band + "HE", rate, 90.0, 0.0), ("LHZ", 1.0, 0.0, -90.0)]
            dc, home = dc_of[net], None
            if (split_routing and datacenters > 1 and net == STATION_SPLIT_NETWORK
                    and s == nets.index(net)):
                dc, home = 1, dc_of[net]
            two = epochs and s % 2 == 1
            first_end = change if two else None
            for cha, r, az, dip in layout:
                chans.append(Channel(len(chans), dc, net, code, loc, cha, r, lat, lon,
                                     elev, az, dip, datetime(2010, 1, 1), first_end, home))
            if two:
                dc2, home2 = dc, home
                if split_routing and datacenters > 1 and net == TIME_SPLIT_NETWORK:
                    dc2, home2 = 0, dc_of[net]
                for cha, r, az, dip in layout:
                    chans.append(Channel(len(chans), dc2, net, code, loc, cha, r,
                                         round(lat + 0.01, 4), lon, elev + 5.0, az, dip,
                                         change, None, home2))
        arch = cls(ev, chans, datacenters, seed, fast, change if epochs else None,
                   split_routing and datacenters > 1)
        for c in chans:
            arch._by_nslc.setdefault(c.nslc, []).append(c)
        return arch

    # ------------------------------------------------------------------ look-ups
    def channel(self, nslc: tuple[str, str, str, str], when: datetime | None = None) -> Channel | None:
        """The channel of a (network, station, location, channel) code, or None: the epoch
        operating at ``when`` (default: the last one)."""
        epochs = self._by_nslc.get(nslc)
        if not epochs:
            return None
        if when is not None:
            for c in epochs:
                if c.start <= when and (c.end is None or when < c.end):
                    return c
        return epochs[-1]

    def match(self, net: str, sta: str, loc: str, cha: str, dc: int, *, listed: bool = False,
              start: datetime | None = None, end: datetime | None = None) -> list[Channel]:
        """Channels of data center ``dc`` matching FDSN patterns (``*``, ``?``, ``--``) whose
        epoch overlaps [start, end]; ``listed``: also those it lists without their data."""
        from fnmatch import fnmatchcase

        loc = "" if loc == "--" else loc
        out = []
        for c in self.channels:
            if c.datacenter != dc and not (listed and c.home == dc):
                continue
            if not c.overlaps(start, end):
                continue
            if all(fnmatchcase(v, p) for v, p in zip(c.nslc, (net, sta, loc, cha), strict=True)):
                out.append(c)
        return out

    def routes(self) -> list[tuple[int, list[str]]]:
        """The routing service's blocks: (data center, its rules as text lines), in order."""
        blocks: dict[int, list[str]] = {d: [] for d in range(self.datacenters)}
        homes = {(c.home if c.home is not None else c.datacenter, c.network) for c in self.channels}
        for d in range(self.datacenters):
            for net in sorted(n for h, n in homes if h == d):
                if self.split_routing and self.change and net == TIME_SPLIT_NETWORK:
                    change = self.change.isoformat()
                    blocks[d].append(f"{net} * * * {_FAR[0]} {change}")
                    blocks[0].append(f"{net} * * * {change} {_FAR[1]}")
                else:
                    blocks[d].append(f"{net} * * * {_FAR[0]} {_FAR[1]}")
        moved = sorted({(c.datacenter, c.network, c.station) for c in self.channels
                        if c.home is not None and c.network == STATION_SPLIT_NETWORK})
        for d, net, sta in moved:
            blocks[d].append(f"{net} {sta} * * {_FAR[0]} {_FAR[1]}")
        order = list(range(self.datacenters))
        if self.split_routing:  # the specific rules first: "the last listed wins" is wrong
            order.reverse()
        return [(d, blocks[d]) for d in order]

    # ------------------------------------------------------------------ waveforms
    def records(self, ch: Channel, start: datetime, end: datetime) -> list[bytes]:
        """The miniSEED records of ``ch`` overlapping [start, end] (like a real server)."""
        t0, t1 = _ns(start), _ns(end)
        out = []
        for k in range(t0 // (CHUNK_SEC * _NS), t1 // (CHUNK_SEC * _NS) + 1):
            for r0, r1, raw in self._chunk(ch.index, k):
                if r1 >= t0 and r0 <= t1:
                    out.append(raw)
        return out

    def mseed(self, nslc: tuple[str, str, str, str], start: datetime, end: datetime) -> bytes:
        """The bytes a dataselect request of one channel and window returns (b'' if none)."""
        ch = self.channel(nslc, start)
        return b"" if ch is None else b"".join(self.records(ch, start, end))

    @lru_cache(maxsize=8192)  # noqa: B019 - one archive per server, bounded
    def _chunk(self, index: int, k: int) -> tuple[tuple[int, int, bytes], ...]:
        from pymseed import MS3Record

        ch = self.channels[index]
        rate = ch.sample_rate
        npts = int(CHUNK_SEC * rate)
        start_ns = k * CHUNK_SEC * _NS
        if self.fast:
            return tuple(_patched(rec, ch.nslc, start_ns + off * _NS // int(rate), n, rate)
                         for off, n, rec in _template(self.seed, rate))
        data = self._samples(ch, start_ns, npts)
        raw = _pack(ch.nslc, rate, 512, start_ns, data)
        out = []
        for msr in MS3Record.from_buffer(raw):
            out.append((msr.starttime, msr.endtime, bytes(msr.record)))
        return tuple(out)

    def _samples(self, ch: Channel, start_ns: int, npts: int) -> np.ndarray:
        rate = ch.sample_rate
        first = int(round(start_ns / _NS * rate))
        idx = np.arange(first, first + npts) + ch.index * 7919
        rng_amp = 300.0 + 100.0 * (ch.index % 7)
        x = rng_amp * np.take(_micro_bank(self.seed, rate), idx % _BANK).astype(np.float64)
        t = (np.arange(npts) / rate) + start_ns / _NS
        for ev in self.events:
            dist = float(_great_circle_deg(np.array(ev.latitude), np.array(ev.longitude),
                                           np.array(ch.latitude), np.array(ch.longitude)))
            tp = _ns(ev.time) / _NS + float(_p_travel_time(np.array([dist]),
                                                           np.array([ev.depth_km]))[0])
            decay = 5.0 + 6.0 * (ev.magnitude - 3.0)
            if tp > t[-1] or tp + 20 * decay < t[0]:
                continue
            amp = 10.0 ** (0.9 * ev.magnitude - 1.5 * np.log10(max(dist, 0.3)) + 0.8)
            amp *= 1.0 if ch.channel.endswith("Z") else 0.6
            freq = min(max(4.0 / (1.0 + dist / 10.0), 0.3), 0.4 * rate)
            tau = t - tp
            on = tau >= 0
            env = amp * (1.0 - np.exp(-tau[on] / 0.4)) * np.exp(-tau[on] / decay)
            x[on] += env * np.sin(2 * np.pi * freq * tau[on])
        return np.clip(np.rint(x), -(2**23), 2**23 - 1).astype(np.int32)

    # ------------------------------------------------------------------ metadata
    def station_xml(self, chans: list[Channel], level: str) -> bytes:
        """StationXML of ``chans`` at ``level`` ('station', 'channel' or 'response')."""
        from obspy import UTCDateTime
        from obspy.core.inventory import Inventory, Network, Site, Station

        nets: dict[str, dict[tuple[str, datetime], list[Channel]]] = {}
        for c in chans:
            nets.setdefault(c.network, {}).setdefault((c.station, c.start), []).append(c)
        networks = []
        for net, stas in nets.items():
            stations = []
            for (sta, _), cs in stas.items():
                c0 = cs[0]
                items = []
                for c in cs if level in ("channel", "response") else []:
                    cha = copy.deepcopy(_template_channel(c.sample_rate)[0])
                    cha.code, cha.location_code = c.channel, c.location
                    cha.latitude, cha.longitude, cha.elevation = c.latitude, c.longitude, c.elevation
                    cha.depth, cha.azimuth, cha.dip, cha.sample_rate = 0.0, c.azimuth, c.dip, c.sample_rate
                    cha.start_date = UTCDateTime(c.start)
                    cha.end_date = UTCDateTime(c.end) if c.end else None
                    if level != "response":
                        cha.response = None
                    items.append(cha)
                stations.append(Station(sta, c0.latitude, c0.longitude, c0.elevation,
                                        channels=items, site=Site(name=f"site {sta}"),
                                        start_date=UTCDateTime(c0.start),
                                        end_date=UTCDateTime(c0.end) if c0.end else None))
            networks.append(Network(net, stations=stations))
        inv = Inventory(networks=networks, source="s2sframe.testing",
                        created=UTCDateTime(2021, 1, 1))
        buf = io.BytesIO()
        inv.write(buf, format="STATIONXML")
        return buf.getvalue()

    def sensor(self, ch: Channel) -> dict[str, Any]:
        """Sensor description and scale of a channel (as in its StationXML)."""
        return _template_channel(ch.sample_rate)[1]

    def p_arrival(self, ev: Event, ch: Channel) -> datetime:
        """The server's own P arrival (IASP91 table): where the synthetic wavelet starts."""
        dist = _great_circle_deg(np.array(ev.latitude), np.array(ev.longitude),
                                 np.array(ch.latitude), np.array(ch.longitude))
        tt = float(_p_travel_time(np.array([float(dist)]), np.array([ev.depth_km]))[0])
        return ev.time + timedelta(seconds=tt)


@lru_cache(maxsize=8)
def _template(seed: int, rate: float) -> tuple[tuple[int, int, bytes], ...]:
    """Records of one noise chunk: (first sample offset, samples, bytes)."""
    from pymseed import MS3Record

    npts = int(CHUNK_SEC * rate)
    data = np.rint(500 * _micro_bank(seed, rate)[:npts]).astype(np.int32)
    out, off = [], 0
    for msr in MS3Record.from_buffer(_pack(("XX", "TMPL", "", "HHZ"), rate, 512, 0, data)):
        out.append((off, msr.samplecnt, bytes(msr.record)))
        off += msr.samplecnt
    return tuple(out)


def _patched(rec: bytes, nslc: tuple[str, str, str, str], start_ns: int, n: int,
             rate: float) -> tuple[int, int, bytes]:
    """A template record with the codes and start time (BTIME) of a channel and chunk."""
    import struct

    t = datetime(1970, 1, 1) + timedelta(microseconds=start_ns // 1000)
    net, sta, loc, cha = nslc
    head = (f"{sta:<5}{loc:<2}{cha:<3}{net:<2}").encode()
    btime = struct.pack(">HHBBBBH", t.year, t.timetuple().tm_yday, t.hour, t.minute, t.second,
                        0, t.microsecond // 100)
    end_ns = start_ns + int(round((n - 1) / rate * _NS))
    return start_ns, end_ns, rec[:8] + head + btime + rec[30:]


def _ns(t: datetime) -> int:
    delta = t - datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000
