"""Processing module: one row of ground-motion parameters per waveform segment.

The function :func:`main` is called once per selected segment and returns a dict: a row
of the output table (SNR, PGA, PGV, significant duration, Fourier amplitudes at given
frequencies, pseudo-spectral accelerations, event magnitude and distance). Its parameters
are in ``paramtable.yaml`` next to this file, passed to ``main`` as ``config``.

Run it
------
From the terminal, with the ``s2s`` command (see ``s2s process --help``), e.g.::

    s2s process -d paramtable.yaml -c paramtable.yaml -p paramtable.py out.parquet

or as a script (see the end of this file)::

    python paramtable.py -o out.parquet            # database URL from paramtable.yaml
    python paramtable.py -d sqlite:////path/to/db.sqlite -o out.parquet
    python paramtable.py                           # no outfile: print the rows

From Python (e.g. a notebook)::

    from s2sframe.process import imap
    from paramtable import main
    for row in imap(main, dburl, segments_selection, config):
        ...

Hints
-----
- Try a new function on a few segments first (e.g. add ``id: '<=100'`` to
  ``segments_selection`` in the YAML), then on everything.
- Raise ``SkipSegment("reason")`` for segments that cannot or should not be processed
  (no data, gaps, saturation, low SNR...): they are recorded with the reason and the run
  goes on. Any other exception means a bug to fix (or a wrong configuration): the error
  is reported with the segment id.
- Every dict returned should have the same keys (the table columns). Values: int,
  float, bool, str, datetime, None.
- ``segment`` attributes have stream2segment's names: ``segment.id``,
  ``segment.stream()`` (an ObsPy Stream), ``segment.inventory()`` (an ObsPy Inventory),
  ``segment.arrival_time`` (datetime, UTC), ``segment.sample_rate``,
  ``segment.maxgap_numsamples``, ``segment.event_distance_km``, ``segment.event.magnitude``,
  ``segment.station.network``, ``segment.channel.channel``, ...
- The signal-processing helpers are documented in :mod:`s2sframe.signal`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from obspy import Trace, UTCDateTime
from obspy.core.util.obspy_types import ObsPyException

from s2sframe.process import SkipSegment
from s2sframe.signal import (
    ampratio,
    ampspec,
    bandpass_remresp,
    maxabs,
    pgv,
    powspec,
    respspec,
    sn_windows,
    snr,
    timeswhere,
    triangsmooth,
)


def main(segment: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Return the ground-motion parameters of ``segment`` as a dict (one table row).

    Steps: checks (one trace, not saturated, response available), band-pass and response
    removal (acceleration in m/s**2), signal and noise windows around the arrival time,
    SNR check, then the parameters.

    Parameters
    ----------
    segment
        The segment to process (attributes named as in stream2segment).
    config
        The parameters of ``paramtable.yaml``.

    Returns
    -------
    dict
        Column name -> value. Accelerations in m/s**2, velocities in m/s, Fourier
        amplitudes in m/s, times as UTC datetimes, durations in s.

    Raises
    ------
    SkipSegment
        When the segment has gaps or overlaps, is saturated, has no response, its
        arrival time is not within its data, or its SNR is too low.
    """
    stream = segment.stream()  # raises SkipSegment when the data cannot be read
    # One trace expected: more traces mean gaps or overlaps (stream.get_gaps() would
    # tell more, but is slower). Alternatively, stream.merge() them.
    if len(stream) != 1:
        raise SkipSegment(f"{len(stream)} traces (probably gaps/overlaps)")
    trace = stream[0]

    # Saturation check on the raw counts:
    amp_ratio = ampratio(trace)
    if amp_ratio >= config["amp_ratio_threshold"]:
        raise SkipSegment(f"possibly saturated (amp. ratio {amp_ratio:.3f})")

    # raises SkipSegment when missing or invalid; its responses are evaluated fast
    # (s2sframe.fast_response: equal to evalresp to rounding, 6-40x faster)
    inventory = segment.inventory()
    try:
        inventory.get_response(trace.id, trace.stats.starttime)
    except Exception as exc:  # noqa: BLE001 (ObsPy raises a plain Exception here)
        raise SkipSegment(f"no response for {trace.id}: {exc}") from exc

    # Band-pass and response removal: a new trace in m/s**2 (`trace` is unchanged).
    bp_conf, rr_conf = config["bandpass"], config["remove_response"]
    freq_min = mag2freq(segment.event.magnitude, bp_conf["freq_min_by_magnitude"])
    # the low-pass corner actually used (capped below the Nyquist frequency):
    freq_max = min(
        bp_conf["freq_max"], bp_conf["max_nyquist_ratio"] * trace.stats.sampling_rate / 2
    )
    try:
        acc = bandpass_remresp(
            trace,
            inventory,
            freq_min=freq_min,
            freq_max=freq_max,
            max_nyquist_ratio=bp_conf["max_nyquist_ratio"],
            corners=bp_conf["corners"],
            taper_max_percentage=bp_conf["taper_max_percentage"],
            output=rr_conf["output"],
            water_level=rr_conf["water_level"],
        )
    except (ValueError, ObsPyException) as exc:
        raise SkipSegment(f"band-pass / response removal failed: {exc}") from exc

    # Signal and noise windows (noise: before the arrival time, signal: after):
    sn_conf = config["sn_windows"]
    arrival = UTCDateTime(segment.arrival_time) + sn_conf["arrival_time_shift"]
    if not acc.stats.starttime < arrival < acc.stats.endtime:
        raise SkipSegment(f"arrival time {arrival} outside the data")
    (sig_start, sig_end), (noise_start, noise_end) = sn_windows(
        acc, arrival, sn_conf["signal_window"]
    )

    # Signal and noise spectra and SNR between the corner frequencies:
    sig_df, sig_spec = spectrum(acc, sig_start, sig_end, config["sn_spectra"])
    noise_df, noise_spec = spectrum(acc, noise_start, noise_end, config["sn_spectra"])
    snr_value = snr(
        sig_spec,
        noise_spec,
        signals_form=config["sn_spectra"]["type"],
        fmin=freq_min,
        fmax=freq_max,
        delta_signal=sig_df,
        delta_noise=noise_df,
    )
    if not snr_value >= config["snr_threshold"]:  # `not >=`: NaN is low too
        raise SkipSegment(f"low SNR ({snr_value:.3f})")

    # Peaks after the arrival time:
    t_pga, pga_value = maxabs(acc, starttime=arrival)
    pgv_value = pgv(acc, starttime=arrival)

    # Significant duration: time between 5% and 95% of the energy (Arias intensity)
    # after the arrival time:
    t05, t95 = timeswhere(acc.slice(starttime=arrival), 0.05, 0.95, cumulative=False)

    row: dict[str, Any] = {
        "snr": snr_value,
        "pga": pga_value,
        "t_pga": t_pga.datetime if t_pga is not None else None,
        "pgv": pgv_value,
        "duration_5_95": t95 - t05,
        "freq_min": freq_min,
        "freq_max": freq_max,
        "magnitude": segment.event.magnitude,
        "distance_km": segment.event_distance_km,
        # more metadata columns, if useful:
        # "network": segment.station.network,
        # "station": segment.station.station,
        # "channel": segment.channel.channel,
    }

    # Fourier amplitude spectrum of the signal window (m/s) at the configured
    # frequencies, not smoothed, interpolated on a log-frequency axis:
    freqs, fas = ampspec(acc, starttime=sig_start, endtime=sig_end, return_freqs=True)
    fas_freqs = np.asarray(freqs)  # return_freqs=True: the frequencies, not their step
    fas = fas * acc.stats.delta
    required = np.asarray(config["freqs_interp"], dtype=float)
    amps = np.interp(
        np.log10(required), np.log10(fas_freqs[1:]), fas[1:], left=np.nan, right=np.nan
    )
    for freq, amp in zip(config["freqs_interp"], amps, strict=True):
        row[f"amp@{freq:g}Hz"] = float(amp)

    # Pseudo-spectral accelerations (m/s**2) of the whole trace:
    resp = respspec(acc, config["psa_periods"], damping=config["psa_damping"])
    for period, psa in zip(config["psa_periods"], resp.psa, strict=True):
        row[f"psa@{period:g}s"] = float(psa)

    return row


def mag2freq(magnitude: float, freq_min_by_magnitude: list[list[float]]) -> float:
    """Return the high-pass corner frequency (Hz) for an event ``magnitude``.

    ``freq_min_by_magnitude`` rows are ``[magnitude upper bound, frequency]``: the first
    row whose bound is at least ``magnitude`` wins.

    Examples
    --------
    >>> table = [[4.5, 0.4], [5.5, 0.2], [6.5, 0.1], [float("inf"), 0.05]]
    >>> mag2freq(5.0, table), mag2freq(8.1, table)
    (0.2, 0.05)
    """
    for max_magnitude, freq in freq_min_by_magnitude:
        if magnitude <= max_magnitude:
            return float(freq)
    raise SkipSegment(f"magnitude {magnitude} above all bounds of freq_min_by_magnitude")


def spectrum(
    trace: Trace, starttime: UTCDateTime, endtime: UTCDateTime, conf: dict[str, Any]
) -> tuple[float, np.ndarray]:
    """Return ``(df, values)``: the tapered and smoothed spectrum of a window of ``trace``.

    ``conf`` is ``config["sn_spectra"]``: its ``type`` chooses an amplitude or a power
    spectrum. The window is padded with zeros where it exceeds the trace.
    """
    func = {"amplitude": ampspec, "amp": ampspec, "power": powspec, "pow": powspec}.get(
        conf["type"]
    )
    if func is None:
        # not a SkipSegment: a wrong configuration must stop the run
        raise ValueError(f"sn_spectra.type must be 'amplitude' or 'power', not {conf['type']!r}")
    df, values = func(
        trace,
        starttime=starttime,
        endtime=endtime,
        taper_max_percentage=conf["taper"]["max_percentage"],
        taper_type=conf["taper"]["type"],
    )
    if conf["smoothing_wlen_ratio"] > 0:
        values = triangsmooth(values, winlen_ratio=conf["smoothing_wlen_ratio"])
    return float(df), values  # return_freqs=False: the frequency step


if __name__ == "__main__":
    # Run `main` on the segments of a database: python paramtable.py --help
    import argparse

    from s2sframe.process import imap, process, yaml_load

    parser = argparse.ArgumentParser(description="Compute a parametric table of segments.")
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path(__file__).with_suffix(".yaml"),
        help="YAML configuration (default: %(default)s)",
    )
    parser.add_argument(
        "-d", "--dburl", help="database URL (default: 'dburl' of the configuration)"
    )
    parser.add_argument(
        "-o",
        "--outfile",
        help="output file, format from the extension (e.g. .parquet, .csv). "
        "Default: print the rows",
    )
    parser.add_argument("-a", "--append", action="store_true", help="append to an existing outfile")
    args = parser.parse_args()

    # yaml_load: errors name the file, line and key; a relative sqlite:/// dburl is
    # relative to the YAML file's folder
    config_ = yaml_load(args.config)
    dburl_ = args.dburl or config_["dburl"]
    selection_ = config_.get("segments_selection") or {}

    if args.outfile:
        # all selected segments, in parallel processes, written to the output file (one
        # row per processed segment, plus the segment id; skipped segments are logged):
        process(main, dburl_, selection_, config_, outfile=args.outfile, append=args.append,
                multi_process=True, verbose=True)
    else:
        # iterate over the results in Python:
        for row_ in imap(main, dburl_, selection_, config_):
            print(row_)
