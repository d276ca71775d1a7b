"""``s2s download`` and the ``s2s dl`` group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..compat.config import BadInput, resolve_dburl
from ..exceptions import ProcessingError
from .common import _handled, main


# -------------------------------------------------------------------------- download
# (kept in one block: `s2s download` and the `s2s dl` group)
@main.command("download")
@click.option("-c", "--config", "config", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The download configuration (stream2segment's download.yaml keys; "
                   "`s2s init` writes a documented one).")
@click.option("-d", "--dburl", help="Database URL (overrides 'dburl'); created if needed.")
@click.option("-s", "--start", "--starttime", "starttime",
              help="Start time, ISO or days from today (<= 0) (overrides 'starttime').")
@click.option("-e", "--end", "--endtime", "endtime", help="End time (overrides 'endtime').")
@click.option("-E", "--events-url", "events_url", help="Event catalog (overrides 'events_url').")
@click.option("-D", "--data-url", "data_url", multiple=True,
              help="'eida', 'iris' or dataselect URL; repeatable (overrides 'data_url').")
@click.option("-n", "--network", multiple=True, help="Networks (overrides 'network').")
@click.option("-z", "--station", multiple=True, help="Stations (overrides 'station').")
@click.option("-l", "--location", multiple=True, help="Locations (overrides 'location').")
@click.option("-k", "--channel", multiple=True, help="Channels (overrides 'channel').")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar nor log on the terminal.")
@_handled
def download_cmd(config: Path, quiet: bool, **overrides: Any) -> None:
    """Download events, channels, waveforms and inventories into a database.

    \b
    Reruns fetch only what is missing: new segments, segments whose time window
    changed, and segments without data whose download code a retry_* flag selects.
    Ctrl-C writes what is complete and stops within seconds (a second Ctrl-C exits at
    once); run again to finish. One download per database at a time.
    Exit codes: 0 done; 1 the run failed or logged errors (its downloads row says why);
    2 bad configuration, database in use by another download, or an event service
    that cannot be reached (nothing to do).
    """
    import logging

    from ..download import ConfigError, DownloadFailed
    from ..download.config import load, masked_yaml
    from ..download.run import download

    over = {k: (list(v) if isinstance(v, tuple) else v) for k, v in overrides.items()
            if v not in (None, ())}
    try:
        cfg = load(str(config), **over)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    logger = logging.getLogger("s2sframe.download")
    handler = None
    if not quiet:
        click.echo("configuration (file and options merged, passwords masked):\n"
                   + masked_yaml(cfg), err=True)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler.addFilter(lambda record: getattr(record, "console", True))
        logger.addHandler(handler)
    try:
        report = download(cfg, progress=not quiet, exit_on_second_interrupt=True)
    except DownloadFailed as exc:
        raise (BadInput(str(exc)) if exc.bad_input else ProcessingError(str(exc))) from None
    finally:
        if handler is not None:
            logger.removeHandler(handler)
    click.echo(str(report))
    if report.errors:
        sys.exit(1)


@main.group("dl")
def dl() -> None:
    """Inspect downloads: `s2s dl summary -d DBURL`."""


@dl.command("summary")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL, or a YAML file with a 'dburl' entry.")
@_handled
def dl_summary(dburl: str) -> None:
    """Segments per download run and data center (rows) and outcome (columns).

    \b
    A segment counts in the run that downloaded it last (reruns update segments).
    status: completed, failed (the run's log says why: `FAILED at step`),
    interrupted (Ctrl-C), unfinished (killed, or still running).
    """
    import polars as pl

    from ..db.urls import get_engine
    from ..download import summary

    engine = get_engine(resolve_dburl(dburl), readonly=True)
    table = summary(engine)
    if table.is_empty():
        click.echo("no segment downloaded yet")
        return
    wide = (table.with_columns(pl.format("{} {}", pl.col("download_code").fill_null(-999999),
                                         "outcome").str.replace("^-999999 ", "")
                               .fill_null("segments").alias("o"))
            .pivot(on="o", index=["download_id", "run_time", "status", "data center"],
                   values="segments", aggregate_function="sum", maintain_order=True)
            .fill_null(0))
    if "segments" in wide.columns:  # runs without segments (e.g. failed early)
        wide = wide.drop("segments")
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, fmt_str_lengths=80,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        click.echo(str(wide))
