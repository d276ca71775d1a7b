"""``s2s init`` and ``s2s process``."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import click

from ..compat.config import BadInput, load_pyfunc, logfile_path, resolve_dburl, yaml_load
from .common import _handled, main

#: Files written by ``s2s init`` (template name -> written name).
NOTEBOOK = "Using-s2sframe-in-your-Python-code.ipynb"
TEMPLATES = {"paramtable.py": "paramtable.py", "paramtable.yaml": "paramtable.yaml",
             "gui.py": "gui.py", "gui.yaml": "gui.yaml",
             "notebook.ipynb": NOTEBOOK, "download.yaml": "download.yaml"}
EXAMPLE_DB = "example.db.sqlite"



# ------------------------------------------------------------------------------ init
def _template(name: str) -> Any:
    return resources.files("s2sframe").joinpath("templates", name)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("-y", "--yes", is_flag=True,
              help="Overwrite existing files without asking.")
@_handled
def init(directory: Path, yes: bool) -> None:
    """Write processing and viewer modules, their configurations, a notebook and an example
    database.

    \b
    Files written in DIRECTORY (created if needed):
      paramtable.py    a documented processing function `main(segment, config)`
      paramtable.yaml  its parameters, the database URL and the segments selection
      gui.py           the plots of `s2s show` (@gui.preprocess, @gui.plot functions)
      gui.yaml         their parameters and the segments shown first
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
        from ..testing import example_database

        if db.exists():
            db.unlink()
        example_database(db)
        click.echo(f"written {db}", err=True)
    for path in sorted(keep):
        click.echo(f"kept {path}", err=True)
    click.echo(f"\nNext: s2s process -d {directory / 'paramtable.yaml'} -c "
               f"{directory / 'paramtable.yaml'} -p {directory / 'paramtable.py'} "
               f"{directory / 'results.parquet'}\n      s2s show -d "
               f"{directory / 'paramtable.yaml'} -p {directory / 'gui.py'}", err=True)


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
@click.option("-c", "--config", "--configfile", "config",
              type=click.Path(dir_okay=False, path_type=Path),
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
    from ..compat.api import process as run_process

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


