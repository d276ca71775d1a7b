"""A processing module and a viewer module as stream2segment users have them.

Written for these tests in the style of the ``paramtable.py`` and ``gui.py`` that
stream2segment's ``s2s init`` writes: its imports (``stream2segment.process``,
``stream2segment.process.funclib.traces`` and ``.ndarrays``), its configuration keys,
and every funclib function its templates import, called as they call them (``copy=``
arguments, positional arguments, ``signals_form='amp'``). The tests migrate them as
the README says, replacing the word ``stream2segment`` by ``s2sframe``, and nothing
else (:func:`migrated`).
"""

from __future__ import annotations

from pathlib import Path


def migrated(text: str) -> str:
    """The whole migration of a stream2segment module."""
    return text.replace("stream2segment", "s2sframe")


def write(folder: Path, dburl: str) -> dict[str, Path]:
    """Write the migrated modules and their configurations in ``folder``."""
    files = {"paramtable.py": PARAMTABLE, "paramtable.yaml": CONFIG + SELECTION,
             "gui.py": GUI, "gui.yaml": CONFIG}
    out = {}
    for name, text in files.items():
        path = folder / name
        path.write_text(migrated(text) if name.endswith(".py") else text)
        out[name] = path
    out["paramtable.yaml"].write_text(f"dburl: {dburl}\n" + out["paramtable.yaml"].read_text())
    return out


CONFIG = """\
sn_windows:
  arrival_time_shift: -2.0
  signal_window: [0.1, 0.9]
sn_spectra:
  taper:
    max_percentage: 0.05
    type: 'hann'
  smoothing_wlen_ratio: 0.05
  type: 'amp'
preprocess:
  remove_response_water_level: 60
  remove_response_output: 'ACC'
  bandpass_freq_max: 30
  bandpass_max_nyquist_ratio: 0.9
  bandpass_corners: 2
amp_ratio_threshold: 0.8
snr_threshold: 3
freqs_interp: [0.5, 1, 2, 5, 10]
"""

SELECTION = """\
segments_selection:
  has_valid_data: 'true'
  maxgap_numsamples: '[-0.5, 0.5]'
"""

PARAMTABLE = '''
"""Parametric table in stream2segment's style (its paramtable.py's imports and calls)."""
import numpy as np
from obspy import UTCDateTime
from obspy.core.util.obspy_types import ObsPyException

from stream2segment.process import SkipSegment
from stream2segment.process.funclib.traces import bandpass, cumsumsq, \\
    fft, ampspec, powspec, timeof, sn_split
from stream2segment.process.funclib.ndarrays import triangsmooth, snr


def main(segment, config):
    stream = segment.stream()
    if len(stream) != 1:
        raise SkipSegment("%d traces (probably gaps/overlaps)" % len(stream))
    trace = stream[0]
    amp_ratio = np.true_divide(np.nanmax(np.abs(trace.data)), 2**23)
    if amp_ratio >= config['amp_ratio_threshold']:
        raise SkipSegment('possibly saturated (amp. ratio exceeds)')
    try:
        trace = bandpass_remresp(segment, config)
    except (TypeError, ObsPyException) as resp_error:
        raise SkipSegment("Error in 'bandpass_remresp': %s" % str(resp_error))

    arrival_time = UTCDateTime(segment.arrival_time) + \\
        config['sn_windows']['arrival_time_shift']
    signal_trace, noise_trace = sn_split(trace, arrival_time,
                                         config['sn_windows']['signal_window'])
    _, sig_df, sig_spe = spectrum(signal_trace, config)
    _, noi_df, noi_spe = spectrum(noise_trace, config)
    fcmin = mag2freq(segment.event.magnitude)
    fcmax = config['preprocess']['bandpass_freq_max']
    snr_ = snr(sig_spe, noi_spe, signals_form=config['sn_spectra']['type'],
               fmin=fcmin, fmax=fcmax, delta_signal=sig_df, delta_noise=noi_df)
    if snr_ < config['snr_threshold']:
        raise SkipSegment('low snr %f' % snr_)

    cum_trace = cumsumsq(trace, normalize=True, copy=True)
    cumlabels = [0.05, 0.5, 0.95]
    cumtimes = [timeof(cum_trace, i) for i in np.searchsorted(cum_trace.data, cumlabels)]
    trace_cut = trace.slice(cumtimes[0], cumtimes[-1])
    argmax = np.nanargmax(np.abs(trace_cut.data))
    freqs_fft, dft = fft(trace, return_freqs=True)
    required = config['freqs_interp']
    amps = np.interp(np.log10(required), np.log10(freqs_fft[1:]),
                     np.abs(dft[1:])) / segment.sample_rate
    ret = {'snr': snr_, 't_PGA': timeof(trace_cut, argmax).datetime,
           'PGA': trace_cut.data[argmax], 'dist_deg': segment.event_distance_deg,
           'ev_mag': segment.event.magnitude, 'st_net': segment.station.network}
    for label, time in zip(cumlabels, cumtimes):
        ret['cumtime__%.2f' % label] = time.datetime
    for freq, amp in zip(required, amps):
        ret['f_%.5f' % freq] = float(amp)
    return ret


def bandpass_remresp(segment, config):
    stream = segment.stream()
    trace = stream[0]
    inventory = segment.inventory()
    conf = config['preprocess']
    trace = bandpass(trace, mag2freq(segment.event.magnitude),
                     freq_max=conf['bandpass_freq_max'],
                     max_nyquist_ratio=conf['bandpass_max_nyquist_ratio'],
                     corners=conf['bandpass_corners'], copy=False)
    trace.remove_response(inventory=inventory, output=conf['remove_response_output'],
                          water_level=conf['remove_response_water_level'])
    return trace


def mag2freq(magnitude):
    if magnitude <= 4.5:
        return 0.4
    if magnitude <= 5.5:
        return 0.2
    if magnitude <= 6.5:
        return 0.1
    return 0.05


def spectrum(trace, config):
    taper_max_percentage = config['sn_spectra']['taper']['max_percentage']
    taper_type = config['sn_spectra']['taper']['type']
    if config['sn_spectra']['type'] == 'pow':
        func = powspec
    elif config['sn_spectra']['type'] == 'amp':
        func = ampspec
    else:
        raise TypeError("config['sn_spectra']['type'] expects either 'pow' or 'amp'")
    df_, spec_ = func(trace, taper_max_percentage=taper_max_percentage,
                      taper_type=taper_type)
    if config['sn_spectra']['smoothing_wlen_ratio'] > 0:
        spec_ = triangsmooth(spec_, winlen_ratio=config['sn_spectra']['smoothing_wlen_ratio'])
    return 0, df_, spec_
'''

GUI = '''
"""Viewer module in stream2segment's style (its gui.py's imports and decorators)."""
import numpy as np
from obspy import UTCDateTime

from stream2segment.process import gui
from stream2segment.process.funclib.traces import bandpass, cumsumsq, \\
    fft, ampspec, powspec, timeof, sn_split
from stream2segment.process.funclib.ndarrays import triangsmooth, snr


def assert1trace(stream):
    if len(stream) != 1:
        raise ValueError("%d traces (probably gaps/overlaps)" % len(stream))


@gui.preprocess
def bandpass_remresp(segment, config):
    stream = segment.stream()
    assert1trace(stream)
    trace = stream[0]
    conf = config['preprocess']
    trace = bandpass(trace, 0.2, freq_max=conf['bandpass_freq_max'],
                     max_nyquist_ratio=conf['bandpass_max_nyquist_ratio'],
                     corners=conf['bandpass_corners'], copy=False)
    trace.remove_response(inventory=segment.inventory(),
                          output=conf['remove_response_output'],
                          water_level=conf['remove_response_water_level'])
    return trace


def _spectrum(trace, config):
    func = powspec if config['sn_spectra']['type'] == 'pow' else ampspec
    df_, spec_ = func(trace, taper_max_percentage=config['sn_spectra']['taper']['max_percentage'],
                      taper_type=config['sn_spectra']['taper']['type'])
    if config['sn_spectra']['smoothing_wlen_ratio'] > 0:
        spec_ = triangsmooth(spec_, winlen_ratio=config['sn_spectra']['smoothing_wlen_ratio'])
    return 0, df_, spec_


def signal_noise_traces(segment, config):
    stream = segment.stream()
    assert1trace(stream)
    arrival_time = UTCDateTime(segment.arrival_time) + \\
        config['sn_windows']['arrival_time_shift']
    return sn_split(stream[0].copy(), arrival_time, config['sn_windows']['signal_window'])


@gui.plot
def cumulative(segment, config):
    stream = segment.stream()
    assert1trace(stream)
    return cumsumsq(stream[0], normalize=True, copy=False)


@gui.plot('r', xaxis={'type': 'log'}, yaxis={'type': 'log'})
def sn_spectra(segment, config):
    signal_trace, noise_trace = signal_noise_traces(segment, config)
    x0_sig, df_sig, sig = _spectrum(signal_trace, config)
    x0_noi, df_noi, noi = _spectrum(noise_trace, config)
    ratio = snr(sig, noi, signals_form=config['sn_spectra']['type'], fmin=1, fmax=10,
                delta_signal=df_sig, delta_noise=df_noi)
    return [{'x0': x0_sig, 'dx': df_sig, 'y': sig, 'name': 'Signal (snr %.1f)' % ratio},
            {'x0': x0_noi, 'dx': df_noi, 'y': noi, 'name': 'Noise'}]


@gui.plot('r')
def sn_windows(segment, config):
    signal_trace, noise_trace = signal_noise_traces(segment, config)
    return [{'x0': t.stats.starttime, 'dx': t.stats.delta * 1000, 'y': t.data, 'name': n}
            for t, n in ((signal_trace, 'Signal'), (noise_trace, 'Noise'))]


@gui.plot
def peak(segment, config):
    trace = segment.stream()[0]
    argmax = int(np.nanargmax(np.abs(trace.data)))
    return {'x': [timeof(trace, 0), timeof(trace, argmax)], 'y': [0, trace.data[argmax]],
            'name': 'peak'}


@gui.plot('r', xaxis={'type': 'log'})
def fft_amplitudes(segment, config):
    freqs, values = fft(segment.stream()[0], return_freqs=True)
    return {'x': freqs[1:], 'y': np.abs(values[1:]), 'name': 'abs(fft)'}
'''
