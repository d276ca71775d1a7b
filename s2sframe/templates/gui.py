"""Viewer module of ``s2s show``: the plots drawn beside each segment's waveform.

Show the segments of a database in the browser with these plots::

    s2s show -d paramtable.yaml -p gui.py

(``-d``: the database URL, or a YAML file with a ``dburl``; the configuration of the
plots is ``gui.yaml`` next to this file, or the file given with ``-c``.)

How it works
------------
- The function decorated with ``@gui.preprocess`` makes the "pre-processed" view of a
  segment (a checkbox of the page): it returns an ObsPy Trace or Stream, here the
  acceleration after band-pass and instrument response removal.
- Each function decorated with ``@gui.plot`` is a plot: below the waveform
  (``@gui.plot``) or on its right (``@gui.plot('r')``), with optional axes
  (``xaxis={'type': 'log'}``). Its first docstring line is its caption.
- Every function is called as ``func(segment, config)``: ``segment`` as in the
  processing module (``segment.stream()``, ``segment.inventory()``,
  ``segment.arrival_time``, ``segment.event.magnitude``...), ``config`` the dict of
  ``gui.yaml`` (editable in the page). ``segment.stream()`` is the raw stream, or the
  pre-processed one when that view is on; each call gets its own copy, so changing it
  in place affects no other plot.
- A plot returns an ObsPy Trace or Stream, a dict ``{'x0': ..., 'dx': ..., 'y': ...,
  'name': ...}`` (``x0`` a number, or a time with ``dx`` in milliseconds), or a list of
  those. An exception is shown as its message in the plot area.

These are the decorators and conventions of stream2segment's ``gui.py`` modules
(``from stream2segment.process import gui`` becomes ``from s2sframe.process import
gui``). The signal-processing helpers are documented in :mod:`s2sframe.signal`.
"""

from __future__ import annotations

from typing import Any

from obspy import Trace, UTCDateTime

from s2sframe.process import gui
from s2sframe.signal import (
    ampspec,
    bandpass_remresp,
    cumsumsq,
    powspec,
    sn_split,
    snr,
    triangsmooth,
)


def one_trace(segment: Any) -> Trace:
    """The segment's only trace (more traces mean gaps or overlaps: an error)."""
    stream = segment.stream()
    if len(stream) != 1:
        raise ValueError(f"{len(stream)} traces (probably gaps/overlaps)")
    return stream[0]


def freq_band(segment: Any, trace: Trace, config: dict) -> tuple[float, float]:
    """The band-pass corners (Hz): by event magnitude, and capped below Nyquist."""
    conf = config["bandpass"]
    magnitude = segment.event.magnitude
    freq_min = next(f for max_mag, f in conf["freq_min_by_magnitude"] if magnitude <= max_mag)
    nyquist = trace.stats.sampling_rate / 2
    return freq_min, min(conf["freq_max"], conf["max_nyquist_ratio"] * nyquist)


@gui.preprocess
def acceleration(segment: Any, config: dict) -> Trace:
    """Band-passed, response removed (m/s**2 with the default output ACC)"""
    trace = one_trace(segment)
    freq_min, freq_max = freq_band(segment, trace, config)
    conf, rr_conf = config["bandpass"], config["remove_response"]
    return bandpass_remresp(trace, segment.inventory(), freq_min=freq_min, freq_max=freq_max,
                            max_nyquist_ratio=conf["max_nyquist_ratio"], corners=conf["corners"],
                            taper_max_percentage=conf["taper_max_percentage"],
                            output=rr_conf["output"], water_level=rr_conf["water_level"])


@gui.plot
def cumulative(segment: Any, config: dict) -> Trace:
    """Cumulative sum of squares, normalized (on an acceleration: the Husid plot)"""
    return cumsumsq(one_trace(segment), normalize=True)


def signal_noise(segment: Any, config: dict) -> tuple[Trace, Trace]:
    """The signal and noise windows of the segment's trace (see ``gui.yaml``)."""
    conf = config["sn_windows"]
    arrival = UTCDateTime(segment.arrival_time) + conf["arrival_time_shift"]
    return sn_split(one_trace(segment), arrival, conf["signal_window"])


@gui.plot("r", xaxis={"type": "log"}, yaxis={"type": "log"})
def sn_spectra(segment: Any, config: dict) -> list[dict]:
    """Signal and noise spectra (smoothed); the legend gives the SNR in the band"""
    conf = config["sn_spectra"]
    func = powspec if conf["type"] in ("power", "pow") else ampspec
    spectra = []
    for trace in signal_noise(segment, config):
        df, values = func(trace, taper_max_percentage=conf["taper"]["max_percentage"],
                          taper_type=conf["taper"]["type"])
        if conf["smoothing_wlen_ratio"] > 0:
            values = triangsmooth(values, winlen_ratio=conf["smoothing_wlen_ratio"])
        spectra.append((df, values))
    (df_s, sig), (df_n, noise) = spectra
    freq_min, freq_max = freq_band(segment, one_trace(segment), config)
    value = snr(sig, noise, signals_form="amplitude" if func is ampspec else "power",
                fmin=freq_min, fmax=freq_max, delta_signal=df_s, delta_noise=df_n)
    # the first point (0 Hz) cannot be drawn on a log axis: start at df
    return [{"x0": df_s, "dx": df_s, "y": sig[1:], "name": f"Signal (SNR {value:.2f})"},
            {"x0": df_n, "dx": df_n, "y": noise[1:], "name": "Noise"}]


@gui.plot("r")
def sn_windows(segment: Any, config: dict) -> list[dict]:
    """The signal and noise windows on the trace"""
    return [{"x0": tr.stats.starttime, "dx": tr.stats.delta * 1000, "y": tr.data, "name": name}
            for name, tr in zip(("Signal", "Noise"), signal_noise(segment, config), strict=True)]


@gui.plot
def velocity(segment: Any, config: dict) -> Trace:
    """The trace integrated (on an acceleration: the velocity)"""
    return one_trace(segment).integrate()
