"""Input shapes of real services the demo FDSN server produces on request: ISF bulletins
(ISC), catalog and station lines nobody can store (damaged miniSEED records:
:mod:`s2sframe.testing.faults`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_ORIGIN_HEADER = ("   Date       Time        Err   RMS Latitude Longitude  Smaj  Smin  Az Depth   "
                  "Err Ndef Nsta Gap  mdist  Mdist Qual   Author      OrigID")
_MAG_HEADER = "Magnitude  Err Nsta Author      OrigID"


def _put(line: list[str], pos: int, text: str) -> None:
    line[pos:pos + len(text)] = list(text)


def isf_bulletin(events: Sequence[Any]) -> str:
    """An ISC ISF (IMS1.0) bulletin of ``events`` (objects with the attributes of
    :class:`~s2sframe.testing.fdsn_data.Event`): one origin and one magnitude each, at the
    standard's columns, times to the hundredth of a second (truncated).

    Examples
    --------
    >>> from datetime import datetime
    >>> from s2sframe.testing.fdsn_data import Event
    >>> text = isf_bulletin([Event("ev1", datetime(2021, 1, 2, 3, 4, 5, 678000), 42.5, 13.25,
    ...                            10.0, 3.4, "ML", "CENTRAL ITALY")])
    >>> print(text.splitlines()[2])
    Event        ev1 CENTRAL ITALY
    >>> text.splitlines()[4][:54]
    '2021/01/02 03:04:05.67               42.5000   13.2500'
    """
    out = ["DATA_TYPE EVENT IMS1.0", "ISC Bulletin"]
    for k, e in enumerate(events):
        origin = [" "] * 136
        t = e.time
        _put(origin, 0, t.strftime("%Y/%m/%d %H:%M:%S") + f".{t.microsecond // 10000:02d}")
        _put(origin, 36, f"{e.latitude:8.4f}")
        _put(origin, 45, f"{e.longitude:9.4f}")
        _put(origin, 71, f"{e.depth_km:5.1f}")
        _put(origin, 118, f"{'TEST':<9s}")
        _put(origin, 128, f"{k + 1:08d}")
        mag = [" "] * 38
        _put(mag, 0, f"{e.mag_type:<5s}")
        _put(mag, 6, f"{e.magnitude:4.1f}")
        _put(mag, 20, f"{'TEST':<9s}")
        _put(mag, 30, f"{k + 1:08d}")
        out += [f"Event {e.event_id:>10s} {e.location_name}", _ORIGIN_HEADER,
                "".join(origin).rstrip(), "", _MAG_HEADER, "".join(mag).rstrip(), ""]
    out.append("STOP")
    return "\n".join(out) + "\n"


_T = "2021-01-10T00:00:00.000000"
#: event text lines nobody can store (appended to the catalog by ``bad_lines=True``)
BAD_EVENT_LINES = (
    f"badnanlat|{_T}|NaN|13.0|10.0|TEST|TESTCAT|TEST|x|ML|3.5|TEST|NOWHERE|earthquake",
    f"badnanmag|{_T}|42.0|13.0|10.0|TEST|TESTCAT|TEST|x|ML|NaN|TEST|NOWHERE|earthquake",
    f"|{_T}|42.0|13.0|10.0|TEST|TESTCAT|TEST|x|ML|3.5|TEST|NOWHERE|earthquake",
    f"badnul|{_T}|42.0|13.0|10.0|TEST|TESTCAT|TEST|x|ML|3.5|TEST|NO\x00WHERE|earthquake",
    "badtime|9999-12-31T23:59:59|42.0|13.0|10.0|TEST|TESTCAT|TEST|x|ML|3.5|TEST|NOWHERE|"
    "earthquake",
)
_S = "|42.0|13.0|100.0|0.0|0.0|-90.0|sensor|1.0|1.0|M/S|100.0|2010-01-01T00:00:00|"
#: station text lines nobody can store (appended by data center 0 with ``bad_lines=True``)
BAD_STATION_LINES = (
    "GE|BAD1||HHZ|NaN|13.0|100.0|0.0|0.0|-90.0|sensor|1.0|1.0|M/S|100.0|2010-01-01T00:00:00|",
    "GE|BAD2||HHZ" + _S.replace("|100.0|2010", "|abc|2010"),
    "GE|BAD3||HHZ" + _S.replace("sensor", "sen\x00sor"),
    "GE|BAD4||HHZ|42.0|13.0",
)
