"""A download report in one HTML file (``s2s dl stats --html``): the viewer's downloads
page (per-run tables of segments per data center and outcome, each run's configuration
and log, the station map with its land outlines) with its data, styles and script inside
the file: it opens offline, from anywhere, with no server and nothing fetched from the
network.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import sqlalchemy as sa

from ..db import downloads, outcomes
from ..db import urls as _db
from ..download.config import masked_text

__all__ = ["html_report"]


def _static(name: str) -> str:
    return resources.files("s2sframe").joinpath("show", "static", name).read_text("utf8")


def _land_in_view(stations: list[dict]) -> list[list[int]]:
    """The land outlines (``land110m.json``, the viewer's) that the page's map of these
    stations shows: the page has no server to fetch them from. Same view as the map's
    (the stations' box padded by 8 % of its span, at least 1 degree)."""
    points = [(s["lon"], s["lat"]) for s in stations
              if s.get("lat") is not None and s.get("lon") is not None]
    if not points:
        return []
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    pad = max(1.0, 0.08 * max(max(lons) - min(lons), max(lats) - min(lats)))
    lo0, lo1 = max(-180.0, min(lons) - pad), min(180.0, max(lons) + pad)
    la0, la1 = max(-90.0, min(lats) - pad), min(90.0, max(lats) + pad)
    rings = json.loads(_static("land110m.json"))["rings"]  # tenths of a degree, lon lat ...
    return [r for r in rings if max(r[0::2]) / 10 >= lo0 and min(r[0::2]) / 10 <= lo1
            and max(r[1::2]) / 10 >= la0 and min(r[1::2]) / 10 <= la1]


def html_report(bind: str | sa.engine.Engine, ids: list[int] | None = None, *,
                maxgap_threshold: float = 0.5) -> str:
    """The HTML page of the runs ``ids`` (default: all) of a database; secrets of the
    stored configurations and logs masked.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from s2sframe.testing import example_database
    >>> page = html_report(example_database(pathlib.Path(tempfile.mkdtemp()) / "demo.sqlite"))
    >>> page.startswith("<!DOCTYPE html>") and "http" not in page.split("<script>")[0]
    True
    """
    engine = bind if isinstance(bind, sa.engine.Engine) else _db.get_engine(bind, readonly=True)
    ids = downloads.run_ids(engine) if ids is None else list(ids)
    data = outcomes.download_stats(engine, maxgap_threshold)
    data["runs"] = [r for r in data["runs"] if r["id"] in set(ids)]
    data["stations"] = [s for s in outcomes.station_stats(engine, ids) if s["segments"]]
    data["land"] = _land_in_view(data["stations"])
    data["texts"] = {r["id"]: {"config": masked_text(r["config"] or ""),
                               "log": _db.mask_text(r["log"] or "")}
                     for r in downloads.runs(engine, ids)}
    title = _db.mask_url(engine.url)
    data["title"] = title
    payload = json.dumps(data, default=str, separators=(",", ":")).replace("</", "<\\/")
    page = _static("report.html")
    for key, value in (("__TITLE__", html.escape(title)),
                       ("__STYLE__", _static("style.css") + _static("downloads.css")),
                       ("__SCRIPT__", _static("downloads.js")), ("__DATA__", payload)):
        page = page.replace(key, value)
    return page
