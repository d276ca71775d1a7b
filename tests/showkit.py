"""Helpers of the viewer tests: a generated database, a plot module, an HTTP client with the cookie."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa

from s2sframe.testing import make_database

PLOTS = '''
import numpy as np
from s2sframe.show import gui


@gui.preprocess
def demean(segment, config):
    """Remove the mean (fast: no response removal)"""
    stream = segment.stream()
    for trace in stream:
        trace.data = trace.data - trace.data.mean()
    return stream


@gui.plot
def cumulative(segment, config):
    """Normalised cumulative energy"""
    trace = segment.stream()[0]
    trace.data = np.cumsum(trace.data.astype(float) ** 2)
    trace.data /= trace.data[-1]
    return trace


@gui.plot("r", xaxis={"type": "log"}, yaxis={"type": "log"})
def spectrum(segment, config):
    """Amplitude spectrum"""
    trace = segment.stream()[0]
    trace.data[:] = 0  # in place: must not leak into other plots
    return {"x0": 0, "dx": 0.1, "y": np.arange(1.0, 50.0), "name": "amplitude"}


@gui.plot("r")
def broken(segment, config):
    """Always fails"""
    raise ValueError("broken on purpose: " + str(config.get("reason", "no reason")))
'''


def build(url: str) -> str:
    """A 27-segment database (3 events x 3 stations x 3 components): gaps, no data, labels."""
    make_database(url, events=3, stations=3, channels_per_station=3, seed=3)
    return url


def plot_module(folder: Path) -> Path:
    path = folder / "plots.py"
    path.write_text(PLOTS)
    return path


class Client:
    """Talks to a ShowServer as the page does (cookie from GET /, X-S2S header on POST)."""

    def __init__(self, url: str) -> None:
        self.base = url.rstrip("/")
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookie = ""

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Host": f"{self.host}:{self.port}"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        content = resp.read()
        out = resp.status, resp.headers, content  # case-insensitive names
        conn.close()
        return out

    def page(self) -> tuple[bytes, str]:
        status, headers, content = self.request("GET", "/")
        assert status == 200
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        return content, headers["Set-Cookie"]

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        q = ("?" + urlencode(params)) if params else ""
        status, _h, content = self.request("GET", "/api/" + path + q)
        return status, json.loads(content)

    def post(self, path: str, body: dict, *, cookie: bool = True, header: bool = True,
             origin: str | None = None) -> tuple[int, Any]:
        hdrs = {}
        if cookie:
            hdrs["Cookie"] = self.cookie
        if header:
            hdrs["X-S2S"] = "1"
        if origin is not None:
            hdrs["Origin"] = origin
        status, _h, content = self.request("POST", "/api/" + path, body, hdrs)
        return status, json.loads(content)


SECRET_CONFIG = """dburl: postgresql://alice:S3cretPW@host/db
restricted_data: [alice, S3cretPW]
channel: ['HH?']
advanced_settings: {routing_service_url: 'http://bob:S3cretPW@routing.example/route'}
"""
SECRET_LOG = ("INFO: opening postgresql://alice:S3cretPW@host/db\n"
              "restricted_data: -----BEGIN PGP SIGNED MESSAGE-----\nS3cretPW\n"
              "-----END PGP SIGNATURE-----\nINFO: done\n")


def store_secrets(url: str) -> None:
    """What stream2segment stores: the download config as written, passwords included."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("update downloads set config = :c, log = :l"),
                         {"c": SECRET_CONFIG, "l": SECRET_LOG})
            conn.execute(sa.text("update data_centers set dataselect_url = "
                                 "'http://carl:S3cretPW@dc.example/fdsnws/dataselect/1/query'"))
    finally:
        engine.dispose()


#: Plotly-style properties as stream2segment plot modules give them (its gui.py template's
#: sn_windows: one grey "segment remainder" line in three parts, one legend entry)
STYLED_PLOTS = '''
import numpy as np
from obspy import UTCDateTime
from s2sframe.show import gui
from s2sframe.signal import sn_split


@gui.plot("r")
def sn_windows(segment, config):
    """Signal and noise windows (stream2segment's template)"""
    trace = segment.stream()[0]
    arrival = UTCDateTime(segment.arrival_time)
    signal_trace, noise_trace = sn_split(trace.copy(), arrival, 30)
    out = [{"x0": t.stats.starttime, "dx": t.stats.delta * 1000, "y": t.data, "name": n}
           for n, t in (("Signal", signal_trace), ("Noise", noise_trace))]
    times = ((trace.stats.starttime, noise_trace.stats.starttime),
             (noise_trace.stats.endtime, signal_trace.stats.starttime),
             (signal_trace.stats.endtime, trace.stats.endtime))
    showlegend = True
    for stime, etime in times:
        if etime <= stime:
            continue
        part = trace.slice(stime, etime)
        out.append({"x0": part.stats.starttime, "dx": part.stats.delta * 1000, "y": part.data,
                    "line": {"color": "rgba(100,100,100,1)"}, "name": "segment remainder",
                    "legendgroup": "segment remainder", "showlegend": showlegend})
        showlegend = False
    return out


@gui.plot("r", xaxis={"type": "log", "title": "frequency (Hz)"},
          yaxis={"type": "log", "title": {"text": "amplitude (m/s)"}})
def spectra(segment, config):
    """Log-log spectra over 3.5 and 5 decades"""
    f = np.logspace(-2, 1.5, 300)
    return [{"x": f, "y": 1e-4 / (1 + f ** 2), "name": "Signal"},
            {"x": f, "y": 1e-9 * np.ones(f.size), "name": "Noise", "line": {"dash": "dot"}}]


@gui.plot("b", xaxis={"title": "sample"}, yaxis={"title": "value", "range": [-2, 2]})
def styles(segment, config):
    """Markers, dashes, widths, fills"""
    x = np.arange(12.0)
    return [{"x": x, "y": np.sin(x), "name": "markers", "mode": "markers",
             "marker": {"color": "#ff0000", "size": 7}},
            {"x": x, "y": np.cos(x), "name": "dashed",
             "line": {"dash": "dash", "width": 3, "color": "green"}},
            {"x": x, "y": 0.5 * np.ones(x.size), "name": "filled", "fill": "tozeroy",
             "mode": "lines+markers"}]
'''
