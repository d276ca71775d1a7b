"""A download report in one HTML file (``s2s dl stats --html``): the viewer's downloads
page (per-run tables of segments per data center and outcome, each run's configuration
and log, the station map) with its data, styles and script inside the file: it opens
offline, from anywhere, with no server and nothing fetched from the network.
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
