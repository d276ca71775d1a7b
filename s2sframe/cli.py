"""The ``s2s`` command: ``s2s init DIR`` and ``s2s process ... OUTFILE``.

Exit codes: 0 success, 1 failure while processing (the message names the
segment), 2 bad input (missing database or file, bad YAML, bad selection,
missing function...). Messages go to stderr; database passwords are masked.

Examples
--------
.. code-block:: console

    $ s2s init demo
    $ s2s process -d demo/paramtable.yaml -c demo/paramtable.yaml -p demo/paramtable.py out.parquet
"""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click

from .compat.config import BadInput, load_pyfunc, logfile_path, resolve_dburl, yaml_load
from .db.urls import mask_text
from .exceptions import DatabaseError, OutputError, ProcessingError, SelectionError

#: Files written by ``s2s init`` (template name -> written name).
NOTEBOOK = "Using-s2sframe-in-your-Python-code.ipynb"
TEMPLATES = {"paramtable.py": "paramtable.py", "paramtable.yaml": "paramtable.yaml",
             "notebook.ipynb": NOTEBOOK, "download.yaml": "download.yaml"}
EXAMPLE_DB = "example.db.sqlite"

def mask(text: str) -> str:
    """Replace passwords of URLs in ``text`` with ``***`` (see :func:`s2sframe.db.urls.mask_text`).

    Examples
    --------
    >>> mask("cannot open postgresql://me:secret@host/db: timeout")
    'cannot open postgresql://me:***@host/db: timeout'
    """
    return mask_text(text)


def _fail(message: str, code: int) -> None:
    click.echo(mask(f"Error: {message}"), err=True)
    sys.exit(code)


def _handled(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map exceptions of a command to messages and exit codes (2: input, 1: processing)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BadInput, DatabaseError, OutputError, SelectionError, FileNotFoundError) as exc:
            _fail(str(exc), 2)
        except ProcessingError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("aborted by user", 1)
        except click.exceptions.Exit:
            raise
        except (Exception, SystemExit) as exc:  # anything else failed while running
            if isinstance(exc, SystemExit) and getattr(exc, "segment_id", None) is None:
                raise
            _fail(_failure_text(exc), 1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _failure_text(exc: BaseException) -> str:
    """An exception as a message; a processing function's (``imap``/``process`` set
    ``segment_id`` and a note naming the segment) with its traceback, user frames only."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    if getattr(exc, "segment_id", None) is None or not notes:
        return what
    head, _, trace = notes[-1].partition("\n\n")
    if not trace:  # single process: the exception's own traceback, without our frames
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if "s2sframe" not in Path(f.filename).parts]
        trace = ("Traceback (most recent call last):\n"
                 + "".join(traceback.format_list(frames)) + what)
    return f"{head}: {what}\n\n{trace}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="s2sframe", prog_name="s2s")
def main() -> None:
    """s2sframe: process the waveform segments of stream2segment databases.

    \b
    Start with `s2s init DIR` (a documented processing module, its YAML
    configuration, a notebook and an example database), then run
    `s2s process` on the database. `s2s COMMAND --help` explains each command.
    """


# ------------------------------------------------------------------------------ init
def _template(name: str) -> Any:
    return resources.files("s2sframe").joinpath("templates", name)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("-y", "--yes", is_flag=True,
              help="Overwrite existing files without asking.")
@_handled
def init(directory: Path, yes: bool) -> None:
    """Write a processing module, its configuration, a notebook and an example database.

    \b
    Files written in DIRECTORY (created if needed):
      paramtable.py    a documented processing function `main(segment, config)`
      paramtable.yaml  its parameters, the database URL and the segments selection
      Using-s2sframe-in-your-Python-code.ipynb   the stream2segment API in a notebook
      example.db.sqlite  a small database with real responses (no download needed)
      download.yaml    a documented configuration of `s2s download` (your own database)
    Existing files are overwritten only if you confirm (or with --yes). Without a
    terminal to ask on, existing files make the command fail (exit code 2).
    """
    if directory.exists() and not directory.is_dir():
        raise BadInput(f"{directory} exists and is not a folder")
    targets = [directory / n for n in (*TEMPLATES.values(), EXAMPLE_DB)]
    keep = set()
    for path in targets:
        if path.exists() and not yes:
            try:
                if not click.confirm(f"{path} exists: overwrite?", default=False, err=True):
                    keep.add(path)
            except click.exceptions.Abort:
                raise BadInput(f"{path} exists: pass --yes to overwrite (no terminal to ask on)") \
                    from None
    directory.mkdir(parents=True, exist_ok=True)
    for template, name in TEMPLATES.items():
        path = directory / name
        if path in keep:
            continue
        with resources.as_file(_template(template)) as src:
            shutil.copyfile(src, path)
        click.echo(f"written {path}", err=True)
    db = directory / EXAMPLE_DB
    if db not in keep:
        from .testing import example_database

        if db.exists():
            db.unlink()
        example_database(db)
        click.echo(f"written {db}", err=True)
    for path in sorted(keep):
        click.echo(f"kept {path}", err=True)
    click.echo(f"\nNext: s2s process -d {directory / 'paramtable.yaml'} -c "
               f"{directory / 'paramtable.yaml'} -p {directory / 'paramtable.py'} "
               f"{directory / 'results.parquet'}", err=True)


# --------------------------------------------------------------------------- process
@main.command()
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL (sqlite:///path or postgresql://user:pass@host/db), or a "
                   "YAML file with a 'dburl' entry (e.g. the -c file).")
@click.option("-p", "--pyfile", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Python file of the processing function.")
@click.option("-f", "--funcname", default="main", show_default=True,
              help="Name of the processing function in PYFILE: it is called as "
                   "func(segment, config) and returns a dict (one column per key), a list "
                   "or None.")
@click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML configuration, passed as `config` to the function. Its "
                   "'segments_selection' selects the segments (default: valid data without "
                   "gaps); optional 'advanced_settings' (multi_process, num_processes, "
                   "segments_chunksize, writer_options) as in stream2segment.")
@click.option("-a", "--append", is_flag=True,
              help="Keep the rows of an existing OUTFILE and process only the segments not "
                   "in it (resume an interrupted run).")
@click.option("-mp", "--multi-process", "multi_process", is_flag=True,
              help="Process in parallel, one worker process per CPU.")
@click.option("-np", "--num-processes", type=click.IntRange(min=1),
              help="Number of worker processes (implies --multi-process).")
@click.option("--logfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Log file of skipped segments and summary [default: OUTFILE.<date>.log].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar nor summary on the terminal.")
@click.argument("outfile", type=click.Path(dir_okay=False, path_type=Path))
@_handled
def process(dburl: str, pyfile: Path, funcname: str, config: Path | None, append: bool,
            multi_process: bool, num_processes: int | None, logfile: Path | None, quiet: bool,
            outfile: Path) -> None:
    """Run a processing function on the selected segments and write OUTFILE.

    \b
    OUTFILE is a table with one row per segment (first column segment_db_id):
    .csv, .parquet, or .hdf/.h5 (pandas HDF, table format). Segments whose
    function raises SkipSegment are logged and skipped; any other error stops the
    run (exit code 1) naming the segment.
    """
    from .compat.api import process as run_process

    cfg = yaml_load(config) if config is not None else {}
    url = resolve_dburl(dburl)
    func = load_pyfunc(pyfile, funcname)
    advanced = cfg.get("advanced_settings") or {}
    if not isinstance(advanced, dict):
        raise BadInput("'advanced_settings' of the configuration must be a mapping")
    workers: bool | int = bool(advanced.get("multi_process", False))
    if advanced.get("num_processes") and workers:
        workers = int(advanced["num_processes"])
    if multi_process:
        workers = True
    if num_processes:
        workers = num_processes
    selection = cfg.get("segments_selection")
    if selection is not None and not isinstance(selection, dict | list):
        raise BadInput("'segments_selection' of the configuration must be a mapping of "
                       "attribute names to expressions")
    result = run_process(
        func, url, selection, str(config) if config is not None else {}, outfile=str(outfile), append=append,
        writer_options=advanced.get("writer_options"),
        logfile=str(logfile) if logfile else logfile_path(outfile),
        verbose=not quiet, multi_process=workers,
        chunksize=advanced.get("segments_chunksize"),
    )
    if not quiet:
        click.echo(f"Output: {result.outfile}\nLog:    {result.logfile}", err=True)


# ------------------------------------------------------------------------------ show
@main.command()
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL (sqlite:///path or postgresql://user:pass@host/db), or a "
                   "YAML file with a 'dburl' entry.")
@click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML configuration passed as `config` to the plot functions; its "
                   "'segments_selection' is the initial selection. Default: PYFILE with "
                   "extension .yaml, if it exists.")
@click.option("-p", "--pyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Python module with @gui.preprocess and @gui.plot functions.")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port on 127.0.0.1 [default: a free one].")
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
@click.option("--readonly", is_flag=True,
              help="Open the database read-only: class labels cannot be changed.")
@click.option("--annotator", help="Name stored with the labels you set [default: login name].")
@click.option("-v", "--verbose", is_flag=True, help="Print each request (method and path).")
@_handled
def show(dburl: str, config: Path | None, pyfile: Path | None, port: int, no_browser: bool,
         readonly: bool, annotator: str | None, verbose: bool) -> None:
    """Look at the segments in the browser and label them.

    \b
    Starts a local web app (127.0.0.1 only) and prints its address: waveforms
    (zoom: drag; reset: double click), the pre-processed view and the plots of
    PYFILE, metadata, class labels (number keys), a selection box and a
    downloads page. Keys: left/right arrows = previous/next segment. Stop with
    Ctrl-C.
    """
    from .show import show as run_show

    if pyfile is not None and config is None and pyfile.with_suffix(".yaml").is_file():
        config = pyfile.with_suffix(".yaml")
    server = run_show(resolve_dburl(dburl), config=config, pyfile=pyfile, port=port,
                      open_browser=False, readonly=readonly, annotator=annotator,
                      verbose=verbose)
    click.echo(f"s2s show: {server.viewer.count} segments selected; open {server.url}"
               f"{'  (read-only)' if readonly else ''}\nPress Ctrl-C to stop.", err=True)
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.wait()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.stop()


# ------------------------------------------------------------------------ classlabel
@main.group()
def classlabel() -> None:
    """List, add, rename or delete the class labels of a database.

    \b
    Class labels (e.g. "noisy", "clipped") are set on segments in `s2s show`
    or in code. Deleting a class deletes its labels of segments too.
    """


def _classes_url(dburl: str) -> str:
    from .db.urls import get_engine

    url = resolve_dburl(dburl)
    get_engine(url)  # a clear error for missing files / unreachable servers
    return url


@classlabel.command("list")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML", help="Database URL.")
@_handled
def classlabel_list(dburl: str) -> None:
    """Print the classes: id, label, labelled segments, description."""
    from .db.classlabels import list_classes

    classes = list_classes(_classes_url(dburl))
    if not classes:
        click.echo("No classes", err=True)
    for c in classes:
        click.echo(f"{c['id']}\t{c['label']}\t{c['count']}\t{c['description'] or ''}")


@classlabel.command("add")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML", help="Database URL.")
@click.argument("label")
@click.argument("description", required=False)
@_handled
def classlabel_add(dburl: str, label: str, description: str | None) -> None:
    """Add the class LABEL (with an optional DESCRIPTION)."""
    from .db.classlabels import add_class

    try:
        cid = add_class(_classes_url(dburl), label, description)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    click.echo(f"added class {label!r} (id {cid})", err=True)


@classlabel.command("rename")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML", help="Database URL.")
@click.option("--description", help="New description (default: keep it).")
@click.argument("label")
@click.argument("new_label")
@_handled
def classlabel_rename(dburl: str, label: str, new_label: str, description: str | None) -> None:
    """Rename the class LABEL to NEW_LABEL (its segments keep the label)."""
    from .db.classlabels import rename_class

    try:
        rename_class(_classes_url(dburl), label, new_label, description)
    except (ValueError, LookupError) as exc:
        raise BadInput(str(exc).strip("\"'")) from None
    click.echo(f"renamed class {label!r} to {new_label!r}", err=True)


@classlabel.command("delete")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML", help="Database URL.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.argument("label")
@_handled
def classlabel_delete(dburl: str, label: str, yes: bool) -> None:
    """Delete the class LABEL and all its labels of segments (asks first, unless --yes)."""
    from .db.classlabels import delete_class, find_class

    url = _classes_url(dburl)
    try:
        cls = find_class(url, label)
    except LookupError as exc:
        raise BadInput(str(exc).strip("\"'")) from None
    if not yes:
        try:
            ok = click.confirm(f"Delete class {label!r} and its {cls['count']} segment "
                               "label(s)?", default=False, err=True)
        except click.exceptions.Abort:
            raise BadInput("pass --yes to delete without confirmation (no terminal to ask on)") \
                from None
        if not ok:
            click.echo("nothing deleted", err=True)
            sys.exit(1)
    removed = delete_class(url, label)
    click.echo(f"deleted class {label!r} and {removed} segment label(s)", err=True)


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

    from .download import ConfigError, download

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

    from .db.urls import get_engine
    from .download import summary

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


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
