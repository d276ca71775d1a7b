"""``s2s download`` and the ``s2s dl`` group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..compat.config import BadInput, resolve_dburl
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
    Ctrl-C keeps what was written; run again to finish. Exit code 2: bad configuration.
    """
    import logging

    from ..download import ConfigError, download

    over = {k: (list(v) if isinstance(v, tuple) else v) for k, v in overrides.items()
            if v not in (None, ())}
    logger = logging.getLogger("s2sframe.download")
    handler = None
    if not quiet:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
    try:
        report = download(str(config), progress=not quiet, **over)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
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
                                         "outcome").str.replace("^-999999 ", "").alias("o"))
            .pivot(on="o", index=["download_id", "run_time", "data center"], values="segments",
                   aggregate_function="sum", maintain_order=True).fill_null(0))
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, fmt_str_lengths=80,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        click.echo(str(wide))
