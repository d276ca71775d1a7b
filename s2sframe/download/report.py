"""What a download did: :class:`DownloadReport` (returned by :func:`s2sframe.download`),
:func:`summary` (every download run of a database, per data center and outcome) and
:func:`stats_text` (``s2s dl stats``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa

from ..db import schema
from ..db.outcomes import run_status_sql

#: stream2segment's names of its own download codes
CODE_NAMES = {200: "OK", 204: "No Content", -1: "URL error", -2: "MSeed error",
              -200: "OK, records outside window dropped", -204: "Timespan error (no data)",
              None: "Segment not found", 413: "Payload Too Large", 404: "Not Found",
              500: "Internal Server Error", 503: "Service Unavailable", 401: "Unauthorized",
              403: "Forbidden", 429: "Too Many Requests"}


def code_name(code: int | None) -> str:
    """Human-readable name of a download code."""
    return CODE_NAMES.get(code, f"HTTP {code}")


@dataclass
class DownloadReport:
    """Outcome of one download run.

    Attributes
    ----------
    download_id : int or None
        Id of the ``downloads`` row (None if the run stopped before writing it).
    counts : dict
        Data center URL -> download code (None: not found) -> number of segments.
    duration_sec : float
        Wall time of the run.
    events, channels, segments_planned, inventories : int
        Events fetched, channels usable, segments to download, inventories saved.
    warnings, errors : int
        Log records of those levels.
    status : str
        'completed', 'failed' (an error stopped the run) or 'interrupted' (Ctrl-C);
        'running' while it runs.
    failure : str or None
        Why the run did not complete: the step, the error type and its message.
    skipped : dict
        Rows that could not be stored, skipped (and logged): what (e.g. 'event line')
        -> count.
    """

    download_id: int | None = None
    counts: dict[str, Counter] = field(default_factory=dict)
    duration_sec: float = 0.0
    events: int = 0
    channels: int = 0
    segments_planned: int = 0
    inventories: int = 0
    warnings: int = 0
    errors: int = 0
    status: str = "running"
    failure: str | None = None
    skipped: Counter = field(default_factory=Counter)

    @property
    def segments(self) -> int:
        """Number of segments written in this run."""
        return sum(sum(c.values()) for c in self.counts.values())

    @property
    def with_data(self) -> int:
        """Segments written with waveform data (codes 200 and -200)."""
        return sum(c.get(200, 0) + c.get(-200, 0) for c in self.counts.values())

    def table(self) -> pl.DataFrame:
        """One row per data center, one column per outcome (segment counts)."""
        codes = sorted({k for c in self.counts.values() for k in c}, key=lambda k: (k is None, k or 0))
        rows: dict[str, list[Any]] = {"data center": list(self.counts)}
        for code in codes:
            rows[f"{code} {code_name(code)}"] = [c.get(code, 0) for c in self.counts.values()]
        return pl.DataFrame(rows)

    def table_text(self) -> str:
        """:meth:`table` as text (every column, full URLs)."""
        with pl.Config(tbl_hide_dataframe_shape=True, tbl_width_chars=250, fmt_str_lengths=80,
                       tbl_cols=-1, tbl_hide_column_data_types=True):
            return str(self.table()) if self.counts else "(no segment downloaded)"

    def __str__(self) -> str:
        head = f"download {self.download_id}"
        if self.status not in ("completed", "running"):
            head += f" {self.status.upper()} ({self.failure})"
        skipped = ", ".join(f"{n} {what}(s)" for what, n in self.skipped.items())
        return (f"{head}: {self.segments} segments written "
                f"({self.with_data} with data) in {self.duration_sec:.1f} s\n{self.table_text()}"
                + (f"\nskipped (not storable, see the log): {skipped}" if skipped else ""))


def summary(engine: sa.engine.Engine, ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Segments of every download run (or of the runs ``ids``), per data center and
    download code.

    Columns: ``download_id``, ``run_time``, ``status`` (see
    :func:`s2sframe.db.outcomes.run_status`: completed, failed, interrupted, unfinished),
    ``errors`` (of its log), ``data center``, ``download_code``, ``outcome``, ``segments``
    (segments whose last download was that run). A run without segments (e.g. one that
    failed early) has one row with null data center and 0 segments.
    """
    sg, dl, dc = schema.segments, schema.downloads, schema.data_centers
    per = (sa.select(sg.c.download_id, sg.c.datacenter_id, sg.c.download_code,
                     sa.func.count().label("segments"))
           .group_by(sg.c.download_id, sg.c.datacenter_id, sg.c.download_code).subquery())
    q = (sa.select(dl.c.id, dl.c.run_time, run_status_sql(dl.c.log).label("status"),
                   dl.c.errors, dc.c.dataselect_url, per.c.download_code,
                   sa.func.coalesce(per.c.segments, 0))
         .select_from(dl.outerjoin(per, per.c.download_id == dl.c.id)
                      .outerjoin(dc, dc.c.id == per.c.datacenter_id))
         .order_by(dl.c.id, dc.c.dataselect_url, per.c.download_code))
    if ids is not None:
        q = q.where(dl.c.id.in_([int(i) for i in ids]))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pl.DataFrame(
        {"download_id": [r[0] for r in rows], "run_time": [r[1] for r in rows],
         "status": [r[2] for r in rows], "errors": [r[3] for r in rows],
         "data center": [r[4] for r in rows], "download_code": [r[5] for r in rows],
         "outcome": [code_name(r[5]) if r[4] is not None else None for r in rows],
         "segments": [r[6] for r in rows]},
        schema={"download_id": pl.Int64, "run_time": pl.Datetime("us"), "status": pl.String,
                "errors": pl.Int64, "data center": pl.String, "download_code": pl.Int64,
                "outcome": pl.String, "segments": pl.Int64})


def _text_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _outcome_table(counts: dict[Any, dict[str, int]], outcomes: list[list[str]],
                   datacenters: dict[Any, str]) -> str:
    keys = [o[0] for o in outcomes if any(o[0] in c for c in counts.values())]
    titles = {o[0]: o[1] for o in outcomes}
    rows = [[datacenters.get(dc, str(dc)), *[c.get(k, 0) for k in keys], sum(c.values())]
            for dc, c in counts.items()]
    if len(rows) > 1:
        rows.append(["total", *[sum(c.get(k, 0) for c in counts.values()) for k in keys],
                     sum(sum(c.values()) for c in counts.values())])
    return _text_table(["data center", *[titles[k] for k in keys], "total"], rows)


def stats_text(bind: sa.engine.Engine, ids: list[int], maxgap_threshold: float = 0.5) -> str:
    """``s2s dl stats``: for each run of ``ids``, its time, event query parameters and
    segments per data center (rows) and outcome (columns); all runs together at the end
    when there are several; what each outcome means."""
    import yaml

    from ..db import downloads, outcomes

    stats = outcomes.download_stats(bind, maxgap_threshold)
    stored = {r["id"]: r for r in downloads.runs(bind, ids)}
    dcs = {k: v.split("/fdsnws/")[0] for k, v in stats["datacenters"].items()}
    out: list[str] = []
    total: dict[Any, dict[str, int]] = {}
    for run in stats["runs"]:
        if run["id"] not in stored:
            continue
        row = stored[run["id"]]
        out += ["", f"Download id {run['id']}: executed {run['run_time']}, "
                    f"{row['program_version'] or 'program unknown'}, {run['status']}, "
                    f"warnings {run['warnings']}, errors {run['errors']}"]
        try:
            cfg = yaml.safe_load(row["config"] or "") or {}
        except yaml.YAMLError:
            cfg = {}
        params = {}
        if isinstance(cfg, dict):
            params = {k: v for k, v in cfg.items() if k in _EVENT_PARAMS and v is not None}
            extra = cfg.get("events_extra_params") or cfg.get("eventws_params") or {}
            params.update(extra if isinstance(extra, dict) else {})
        out.append("Event query parameters: " + (", ".join(
            f"{k} = {v}" for k, v in sorted(params.items())) or "none"))
        if not run["counts"]:
            out.append("No segments downloaded")
            continue
        out += ["Segments per data center (rows) and outcome (columns):",
                _outcome_table(run["counts"], stats["outcomes"], dcs)]
        for dc, cells in run["counts"].items():
            agg = total.setdefault(dc, {})
            for k, n in cells.items():
                agg[k] = agg.get(k, 0) + n
    if not out:
        return "no download run"
    if len([r for r in stats["runs"] if r["id"] in stored and r["counts"]]) > 1:
        out += ["", "All these downloads together:", _outcome_table(total, stats["outcomes"], dcs)]
    out += ["", "Outcomes:"] + [f"  {title}: {desc}" for _, title, desc in stats["outcomes"]]
    return "\n".join(out).lstrip("\n")


_EVENT_PARAMS = ("minlatitude", "maxlatitude", "minlongitude", "maxlongitude", "mindepth",
                 "maxdepth", "minmagnitude", "maxmagnitude", "minlat", "maxlat", "minlon",
                 "maxlon", "minmag", "maxmag")
