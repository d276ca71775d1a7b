"""Download outcomes: what each ``segments.download_code`` means, and counts per download run.

The download report of ``s2s show`` (and anything summarising a download) uses
:func:`outcome` and :func:`download_stats`.

Examples
--------
>>> outcome(200, 0.0), outcome(200, 3.0), outcome(None, None), outcome(404, None)
('ok', 'ok_gaps', 'not_returned', 'http_404')
>>> OUTCOMES["ok_gaps"][0]
'OK, gaps/overlaps'
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from . import schema
from . import urls as _db

__all__ = ["OUTCOMES", "download_stats", "outcome", "run_status", "run_status_sql",
           "station_stats"]

#: outcome key -> (title, description), in table column order.
OUTCOMES: dict[str, tuple[str, str]] = {
    "ok": ("OK", "data saved (HTTP 200)"),
    "ok_gaps": ("OK, gaps/overlaps", "data saved, with gaps or overlaps (|maxgap_numsamples| > 0.5)"),
    "ok_partial": ("OK, partial", "data saved, records outside the request window dropped (-200)"),
    "no_data": ("No data", "the server had no data (HTTP 204)"),
    "timespan": ("Time span error", "all records outside the request window (-204)"),
    "malformed": ("Malformed data", "the response was not valid miniSEED (-2)"),
    "url_error": ("URL error", "no response: timeout, no connection... (-1)"),
    "not_returned": ("Not returned", "missing from a multi-segment response (code NULL)"),
    "unknown": ("Status unknown", "other 2xx/3xx response"),
}


def outcome(code: int | None, maxgap: float | None) -> str:
    """The outcome key of a segment's ``download_code`` (and ``maxgap_numsamples``)."""
    if code is None:
        return "not_returned"
    code = int(code)
    if code == 200:
        return "ok_gaps" if maxgap is not None and abs(maxgap) > 0.5 else "ok"
    named = {-200: "ok_partial", 204: "no_data", -204: "timespan", -2: "malformed",
             -1: "url_error"}
    if code in named:
        return named[code]
    if code >= 400:
        return f"http_{code}"
    return "unknown"


#: status of a download run -> patterns of its log (ours, then stream2segment's), checked
#: in this order; a run whose log has none of them is "unfinished" (killed, or running)
RUN_STATUS = {
    "failed": ("% FAILED at step %", "%Download aborted%"),
    "interrupted": ("% interrupted by the user at step %", "%Aborted by user%"),
    "completed": ("% completed in %", "%Completed in %"),
}


def run_status(log: str | None) -> str:
    """Status of a download run from its log: 'completed', 'failed', 'interrupted' or
    'unfinished' (no last word: killed, or still running).

    Examples
    --------
    >>> run_status("... INFO: download 3 completed in 12.0 s")
    'completed'
    >>> run_status("... ERROR: download 4 FAILED at step 'waveforms': OperationalError: ...")
    'failed'
    >>> run_status("... INFO: waveforms: 12 segment(s) in 3 request(s)")
    'unfinished'
    """
    import fnmatch

    text = log or ""
    for status, patterns in RUN_STATUS.items():
        if any(fnmatch.fnmatchcase(text, p.replace("%", "*")) for p in patterns):
            return status
    return "unfinished"


def run_status_sql(log: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """:func:`run_status` as a SQL expression of the ``downloads.log`` column."""
    whens = [(sa.or_(*[log.like(p) for p in patterns]), status)
             for status, patterns in RUN_STATUS.items()]
    return sa.case(*whens, else_="unfinished")


def _title(key: str) -> tuple[str, str]:
    if key.startswith("http_"):
        code = int(key[5:])
        kind = "client" if code < 500 else "server"
        return f"HTTP {code}", f"{kind} error, no data"
    return OUTCOMES[key]


def download_stats(bind: str | URL | sa.engine.Engine,
                   maxgap_threshold: float = 0.5) -> dict[str, Any]:
    """Segments per download run, data center and outcome (``ok_gaps``: data with
    ``|maxgap_numsamples|`` above ``maxgap_threshold``).

    Returns ``{"outcomes": [[key, title, description], ...], "datacenters":
    {id: url}, "runs": [{"id", "run_time", "warnings", "errors",
    "program_version", "status", "counts": {datacenter_id: {outcome: n}}}, ...]}``
    (``status``: :func:`run_status`).
    """
    engine = bind if isinstance(bind, sa.engine.Engine) else _db.get_engine(bind, readonly=True)
    seg, d = schema.segments, schema.downloads
    gap = sa.case((sa.func.abs(seg.c.maxgap_numsamples) > abs(float(maxgap_threshold)), 1),
                  else_=0).label("gap")
    stmt = (sa.select(seg.c.download_id, seg.c.datacenter_id, seg.c.download_code, gap,
                      sa.func.count().label("n"))
            .group_by(seg.c.download_id, seg.c.datacenter_id, seg.c.download_code, gap))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        runs = conn.execute(sa.select(d.c.id, d.c.run_time, d.c.warnings, d.c.errors,
                                      d.c.program_version, run_status_sql(d.c.log).label("status"))
                            .order_by(d.c.run_time, d.c.id)).all()
        dcs = {r.id: r.dataselect_url for r in conn.execute(
            sa.select(schema.data_centers.c.id, schema.data_centers.c.dataselect_url))}
    counts: dict[int, dict[int, dict[str, int]]] = {}
    keys: set[str] = set()
    for did, dcid, code, has_gap, n in rows:
        key = outcome(code, 1.0 if has_gap else 0.0)
        keys.add(key)
        cell = counts.setdefault(did, {}).setdefault(dcid, {})
        cell[key] = cell.get(key, 0) + int(n)
    order = [k for k in OUTCOMES if k in keys] + sorted(k for k in keys if k not in OUTCOMES)
    return {
        "outcomes": [[k, *_title(k)] for k in order],
        "datacenters": dcs,
        "runs": [{"id": r.id, "run_time": r.run_time.isoformat() if r.run_time else None,
                  "warnings": r.warnings, "errors": r.errors,
                  "program_version": r.program_version, "status": r.status,
                  "counts": counts.get(r.id, {})}
                 for r in runs],
    }


def station_stats(bind: str | URL | sa.engine.Engine,
                  download_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Stations with coordinates, data center and segments (all, and with data saved; of
    the runs ``download_ids`` only, if given)."""
    engine = bind if isinstance(bind, sa.engine.Engine) else _db.get_engine(bind, readonly=True)
    seg, cha, sta = schema.segments, schema.channels, schema.stations
    ok = sa.func.sum(sa.case((seg.c.download_code.in_([200, -200]), 1), else_=0))
    per = (sa.select(cha.c.station_id, sa.func.count().label("n"), ok.label("ok"))
           .select_from(seg.join(cha, cha.c.id == seg.c.channel_id))
           .group_by(cha.c.station_id))
    if download_ids is not None:
        per = per.where(seg.c.download_id.in_(download_ids))
    counts = per.subquery()
    stmt = (sa.select(sta.c.id, sta.c.network, sta.c.station, sta.c.latitude, sta.c.longitude,
                      sta.c.datacenter_id, counts.c.n, counts.c.ok)
            .select_from(sta.outerjoin(counts, counts.c.station_id == sta.c.id))
            .order_by(sta.c.id))
    with engine.connect() as conn:
        return [{"id": r.id, "code": f"{r.network}.{r.station}", "lat": r.latitude,
                 "lon": r.longitude, "datacenter_id": r.datacenter_id,
                 "segments": int(r.n or 0), "ok": int(r.ok or 0)}
                for r in conn.execute(stmt)]
