"""Reference data of :mod:`s2sframe.testing`: networks, regions, travel times, classes,
download outcomes, and the small helpers that turn draws into column values.
"""

from __future__ import annotations

import numpy as np
import polars as pl

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

#: ``regional=True`` (see :func:`s2sframe.testing.make_database`): stations in this box
#: (lat min, lat max, lon min, lon max; each network's own box clipped to it, unless they
#: do not overlap), events of these regions only, magnitudes between these bounds: event to
#: station distances below ~17 degrees (mostly 1.5-11), where moderate events stand out of
#: the noise.
_REGIONAL_BOX = (39.0, 49.0, 6.0, 19.0)
_REGIONAL_REGIONS = ("CENTRAL ITALY", "ADRIATIC SEA", "CROATIA", "SWITZERLAND")
_REGIONAL_MAGNITUDES = (4.0, 6.0)

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
