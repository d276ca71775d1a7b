"""Build or extend stream2segment databases from FDSN web services: :func:`download`.

The package is callable: ``s2sframe.download(config, ...)`` is
``s2sframe.download.download(config, ...)``, while ``import s2sframe.download``
(and ``s2sframe.download.run``, ``.config``...) give the package and its modules.

Examples
--------
>>> import s2sframe
>>> s2sframe.download({"dburl": "sqlite:///db.sqlite"})
Traceback (most recent call last):
s2sframe.exceptions.ConfigError: download configuration: 'starttime': missing (required)

Modules (one step each): ``config`` (download.yaml keys), ``events``, ``routing`` (data
centers), ``channels``, ``traveltimes``, ``segments`` (what to download), ``dataselect``
(waveforms and download codes), ``http`` (retries, adaptive concurrency), ``writer``,
``inventory``, ``report``, ``rows`` (rows that cannot be stored: skipped, logged,
counted), ``run`` (the pipeline).
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from collections.abc import Mapping
from typing import Any

from .config import ConfigError, DownloadConfig
from .events import DownloadFailed
from .report import DownloadReport, summary

__all__ = ["ConfigError", "DownloadConfig", "DownloadFailed", "DownloadReport", "download",
           "summary"]


def download(config: str | os.PathLike[str] | Mapping[str, Any], *, progress: bool = False,
             **overrides: Any) -> DownloadReport:
    """Download events, channels, waveform segments and inventories into a database.

    The configuration has stream2segment's ``download.yaml`` keys (see
    ``docs/download.md``); the database (``dburl``) is created if needed, and an
    existing stream2segment database is extended, never rewritten. A rerun fetches only
    new segments, segments whose request window changed, and segments without data whose
    download code a ``retry_*`` flag selects.

    Parameters
    ----------
    config : str, os.PathLike or mapping
        Path of a YAML file, or the configuration as a mapping.
    progress : bool
        Show a progress bar (counts, rate, ETA) of the waveform step.
    **overrides
        Keys replacing those of ``config`` (e.g. ``dburl=...``, ``starttime=...``;
        ``advanced_settings`` is merged key by key).

    Returns
    -------
    DownloadReport
        Segment counts per data center and download code, duration, the ``downloads`` id.

    Raises
    ------
    ConfigError
        A bad or unknown configuration key (the message names it).
    s2sframe.exceptions.DatabaseError
        The database cannot be opened, or another download runs on it (one download per
        database at a time: the second is refused at once, naming the first).
    DownloadFailed
        The run failed: a step could not produce anything to go on with (e.g. the event
        service cannot be reached, every station service failed), or any other error
        stopped it (the original error is its ``__cause__``). The failure is recorded in
        the run's ``downloads`` row: its log ends with ``download N FAILED at step '...':
        Type: message``, counted in ``errors``.
    KeyboardInterrupt
        Ctrl-C: the requests in flight are cut, what is complete is written, and the log
        says ``interrupted by the user``; run again to resume.

    Examples
    --------
    >>> import os, tempfile
    >>> from s2sframe.testing import fdsn_server
    >>> with fdsn_server(events=2, stations=3) as server:
    ...     report = download({
    ...         "dburl": "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite"),
    ...         "starttime": "2021-01-01", "endtime": "2021-02-01",
    ...         "events_url": server.event_url, "data_url": server.dataselect_urls,
    ...         "channel": "HH?", "search_radius": {"min": 0, "max": 10},
    ...         "time_window": [-1, 3]})
    >>> report.segments > 0 and report.with_data > 0
    True
    """
    from .run import download as _run

    return _run(config, progress=progress, **overrides)


class _CallablePackage(types.ModuleType):
    """The package ``s2sframe.download``, which calling runs :func:`download`.

    Examples
    --------
    >>> import s2sframe, s2sframe.download
    >>> isinstance(s2sframe.download, types.ModuleType), callable(s2sframe.download)
    (True, True)
    >>> str(inspect.signature(s2sframe.download)).startswith("(config")
    True
    """

    def __call__(self, config: str | os.PathLike[str] | Mapping[str, Any], *,
                 progress: bool = False, **overrides: Any) -> DownloadReport:
        return download(config, progress=progress, **overrides)


sys.modules[__name__].__class__ = _CallablePackage
__signature__ = inspect.signature(download)
