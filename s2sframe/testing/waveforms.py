"""miniSEED of :mod:`s2sframe.testing`: synthetic counts (noise plus P and S wavelets)
packed as Steim2 records, deterministic per segment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .catalog import _CORRUPT

if TYPE_CHECKING:
    from .plan import _Plan


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
