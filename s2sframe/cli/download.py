"""``s2s download`` and the ``s2s dl`` group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..compat.config import BadInput
from ..exceptions import ProcessingError
from .common import RUN_SELECTION, _handled, _runs, _selection, main


# -------------------------------------------------------------------------- download
# (kept in one block: `s2s download` and the `s2s dl` group)
def _flag(*names: str, key: str, text: str) -> Any:
    """A stream2segment flag overriding ``key`` (given: true; absent: the config's value)."""
    return click.option(*names, key, is_flag=True, default=None, help=text)


def _event_option(short: str | None, name: str, text: str) -> Any:
    names = (short, f"--{name}") if short else (f"--{name}",)
    return click.option(*names, name, type=float, help=f"(event search) {text} (overrides "
                                                       f"'{name}').")


@main.command("download")
@click.option("-c", "--config", "config", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The download configuration (stream2segment's download.yaml keys; "
                   "`s2s init` writes a documented one).")
@click.option("-d", "--dburl", help="Database URL (overrides 'dburl'); created if needed.")
@click.option("-s", "--start", "--starttime", "starttime",
              help="Start time, ISO or days from today (<= 0) (overrides 'starttime').")
@click.option("-e", "--end", "--endtime", "endtime", help="End time (overrides 'endtime').")
@click.option("-E", "-ev", "--events-url", "--events_url", "--catalog", "--eventws",
              "events_url", help="Event catalog (overrides 'events_url').")
@click.option("-D", "-ds", "--data-url", "--data_url", "--dataselect", "--dataws", "data_url",
              multiple=True,
              help="'eida', 'iris' or dataselect URL; repeatable (overrides 'data_url').")
@click.option("-n", "--network", "--networks", "--net", "network", multiple=True,
              help="Networks (overrides 'network').")
@click.option("-z", "--station", "--stations", "--sta", "station", multiple=True,
              help="Stations (overrides 'station').")
@click.option("-l", "--location", "--locations", "--loc", "location", multiple=True,
              help="Locations (overrides 'location').")
@click.option("-k", "--channel", "--channels", "--cha", "channel", multiple=True,
              help="Channels (overrides 'channel').")
@click.option("-msr", "--min-sample-rate", "min_sample_rate", type=float,
              help="Minimum sample rate in Hz (overrides 'min_sample_rate').")
@click.option("-t", "--time-window", "time_window", nargs=2, type=float,
              help="Minutes before and after the arrival time, e.g. -t -1 3 (overrides "
                   "'time_window').")
@_flag("-u", "--update-metadata", key="update_metadata",
       text="Update stations and channels already in the database (sets 'update_metadata').")
@_flag("-r1", "--retry-url-err", key="retry_url_err", text="Retry URL errors (-1).")
@_flag("-r2", "--retry-mseed-err", key="retry_mseed_err", text="Retry malformed data (-2).")
@_flag("-r3", "--retry-seg-not-found", key="retry_seg_not_found",
       text="Retry segments missing from their response (code NULL).")
@_flag("-r4", "--retry-client-err", key="retry_client_err", text="Retry HTTP 4xx.")
@_flag("-r5", "--retry-server-err", key="retry_server_err", text="Retry HTTP 5xx.")
@_flag("-r6", "--retry-timespan-err", key="retry_timespan_err",
       text="Retry segments whose data was all outside the window (-204).")
@_flag("-i", "--inventory", key="inventory", text="Download station inventories (sets "
                                                    "'inventory').")
@_event_option("-minlat", "minlatitude", "Events with latitude >= this")
@_event_option("-maxlat", "maxlatitude", "Events with latitude <= this")
@_event_option("-minlon", "minlongitude", "Events with longitude >= this")
@_event_option("-maxlon", "maxlongitude", "Events with longitude <= this")
@_event_option(None, "mindepth", "Events deeper than this (km)")
@_event_option(None, "maxdepth", "Events shallower than this (km)")
@_event_option("-minmag", "minmagnitude", "Events with magnitude >= this")
@_event_option("-maxmag", "maxmagnitude", "Events with magnitude <= this")
@click.option("--print-config-only", is_flag=True,
              help="Print the configuration (the file merged with the options above, "
                   "secrets masked) and exit without downloading.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar nor log on the terminal.")
@_handled
def download_cmd(config: Path, quiet: bool, print_config_only: bool, **overrides: Any) -> None:
    """Download events, channels, waveforms and inventories into a database.

    \b
    Options override the keys of the configuration file (stream2segment's option
    names work too); flags can only set a key to true. Reruns fetch only what is
    missing: new segments, segments whose time window changed, and segments
    without data whose download code a retry_* flag selects. Ctrl-C writes what is
    complete and stops within seconds (a second Ctrl-C exits at once); run again to
    finish. One download per database at a time.
    Exit codes: 0 done; 1 the run failed or logged errors (its downloads row says why);
    2 bad configuration, database in use by another download, or an event service
    that cannot be reached or gives no catalog (nothing to do).
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
    if print_config_only:
        click.echo(masked_yaml(cfg), nl=False)
        return
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
    except ConfigError as exc:  # e.g. an events_url that gives no catalog
        raise BadInput(str(exc)) from None
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


@dl.command("summary", context_settings=RUN_SELECTION)
@_selection
@_handled
def dl_summary(dburl: str, download_ids: tuple[int, ...],
               download_indices: tuple[str, ...]) -> None:
    """Segments per download run and data center (rows) and outcome (columns).

    \b
    DOWNLOAD_INDICES: positions of runs in run order (0 the first, -1 the
    last; slices such as 1: or :-1), with or instead of --download-id;
    neither: every run.
    A segment counts in the run that downloaded it last (reruns update segments).
    status: completed, failed (the run's log says why: `FAILED at step`),
    interrupted (Ctrl-C), unfinished (killed, or still running).
    """
    import polars as pl

    from ..download import summary

    engine, ids = _runs(dburl, download_indices, download_ids, default_last=False)
    table = summary(engine, ids)
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
