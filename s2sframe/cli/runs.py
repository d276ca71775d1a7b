"""``s2s dl stats``, ``s2s dl log``, ``s2s dl config`` and ``s2s db drop``: the download
runs of a database, as stream2segment's commands of the same names (runs selected by
index in run order and by id)."""

from __future__ import annotations

from pathlib import Path

import click

from ..compat.config import BadInput, resolve_dburl
from .common import RUN_SELECTION, _handled, _runs, _selection, confirm_or_stop, main
from .download import dl


@dl.command("stats", context_settings=RUN_SELECTION)
@_selection
@click.option("-g", "--maxgap-threshold", type=float, default=0.5, show_default=True,
              help="Segments with |maxgap_numsamples| above this count as having gaps or "
                   "overlaps.")
@click.option("-htm", "--html", is_flag=True,
              help="Write an HTML report instead (per-run tables, configurations and logs, "
                   "station map): one file that opens offline.")
@click.option("-o", "--outfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file [default: the terminal; with --html: "
                   "s2s_dl_stats.html in the current folder].")
@_handled
def dl_stats(dburl: str, download_ids: tuple[int, ...], download_indices: tuple[str, ...],
             maxgap_threshold: float, html: bool, outfile: Path | None) -> None:
    """Segments per data center and outcome of download runs (default: all).

    \b
    DOWNLOAD_INDICES: positions of runs in run order (0 the first, -1 the
    last; slices such as 1: or :-1), with or instead of --download-id.
    """
    engine, ids = _runs(dburl, download_indices, download_ids, default_last=False)
    if html:
        from ..show.report import html_report

        path = outfile or Path("s2s_dl_stats.html")
        path.write_text(html_report(engine, ids, maxgap_threshold=maxgap_threshold),
                        encoding="utf8")
        click.echo(f"download statistics written to {path}", err=True)
        return
    from ..download.report import stats_text

    text = stats_text(engine, ids, maxgap_threshold) if ids else "no download run"
    if outfile is not None:
        outfile.write_text(text + "\n", encoding="utf8")
        click.echo(f"download statistics written to {outfile}", err=True)
    else:
        click.echo(text)


def _texts(dburl: str, indices: tuple[str, ...], ids: tuple[int, ...], what: str) -> None:
    from ..db import downloads
    from ..db.urls import mask_text
    from ..download.config import masked_text

    engine, selected = _runs(dburl, indices, ids, default_last=True)
    rows = downloads.runs(engine, selected)
    if not rows:
        click.echo("no download run", err=True)
        return
    mask = masked_text if what == "config" else mask_text
    for row in rows:
        head = f"Download id {row['id']} ({row['run_time']})"
        if what == "config":
            click.echo(f"# {head}\n{mask(row['config'] or '').rstrip()}\n")
        else:
            click.echo(f"{head}\n{'=' * len(head)}\n{mask(row['log'] or '').rstrip()}\n"
                       "[end of log]\n")


@dl.command("log", context_settings=RUN_SELECTION)
@_selection
@_handled
def dl_log(dburl: str, download_ids: tuple[int, ...], download_indices: tuple[str, ...]) -> None:
    """The stored log of download runs (default: the last one).

    \b
    DOWNLOAD_INDICES: positions of runs in run order (0 the first, -1 the
    last; slices such as 1: or :-1), with or instead of --download-id.
    """
    _texts(dburl, download_indices, download_ids, "log")


@dl.command("config", context_settings=RUN_SELECTION)
@_selection
@_handled
def dl_config(dburl: str, download_ids: tuple[int, ...],
              download_indices: tuple[str, ...]) -> None:
    """The stored configuration of download runs (default: the last one).

    Passwords and tokens are masked; with one run, the output is a YAML to
    download with again.

    \b
    DOWNLOAD_INDICES: positions of runs in run order (0 the first, -1 the
    last; slices such as 1: or :-1), with or instead of --download-id.
    """
    _texts(dburl, download_indices, download_ids, "config")


@main.group("db")
def db() -> None:
    """Database management: `s2s db drop -d DBURL -did ID`."""


@db.command("drop")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL, or a YAML file with a 'dburl' entry.")
@click.option("-did", "--download-id", "download_ids", type=int, multiple=True, required=True,
              help="Id of a download run to delete; repeatable.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_handled
def db_drop(dburl: str, download_ids: tuple[int, ...], yes: bool) -> None:
    """Delete download runs and the segments they downloaded (with their class labels).

    \b
    Events, stations and channels stay. Asks first, unless --yes; without a
    terminal to ask on, --yes is needed (exit code 2).
    """
    from ..db import downloads
    from ..db.urls import get_engine

    engine = get_engine(resolve_dburl(dburl))
    ids = downloads.run_ids(engine, ids=download_ids)
    if not ids:
        click.echo("nothing to delete: no download run with id "
                   + ", ".join(map(str, download_ids)), err=True)
        return
    counts = downloads.segment_counts(engine, ids)
    if not yes:
        confirm_or_stop(f"Delete {len(ids)} download run(s) (id {', '.join(map(str, ids))}) "
                        f"and their {sum(counts.values())} segment(s)?", "--yes")
    for did, n in downloads.drop_runs(engine, ids).items():
        click.echo(f"download id {did}: deleted, with {n} segment(s)")


@db.command("classlabel")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL, or a YAML file with a 'dburl' entry.")
@click.option("--add", nargs=2, multiple=True, metavar="LABEL DESCRIPTION",
              help="Add a class label; repeatable.")
@click.option("--rename", nargs=3, multiple=True, metavar="LABEL NEW_LABEL NEW_DESCRIPTION",
              help="Rename a class label ('' as NEW_DESCRIPTION keeps the description); "
                   "repeatable.")
@click.option("--delete", multiple=True, metavar="LABEL",
              help="Delete a class label and its labels of segments; repeatable.")
@click.option("--no-prompt", is_flag=True, help="Do not ask for confirmation.")
@_handled
def db_classlabel(dburl: str, add: tuple, rename: tuple, delete: tuple, no_prompt: bool) -> None:
    """Add, rename or delete class labels, as stream2segment's command (see also the
    `s2s classlabel` group). Existing labels are not added again, unknown ones not renamed
    nor deleted; prints the class labels of the database at the end."""
    from ..db import classlabels as cl
    from ..db.urls import get_engine

    url = resolve_dburl(dburl)
    get_engine(url)
    if not no_prompt and (add or rename or delete):
        confirm_or_stop(f"Add {len(add)}, rename {len(rename)} and delete {len(delete)} class "
                        "label(s)?", "--no-prompt", "nothing changed")
    known = {c["label"] for c in cl.list_classes(url)}
    try:
        for label, description in add:
            if label not in known:
                cl.add_class(url, label, description)
        for label, new_label, description in rename:
            if label in known:
                cl.rename_class(url, label, new_label, description or None)
        for label in delete:
            if label in {c["label"] for c in cl.list_classes(url)}:
                cl.delete_class(url, label)
    except (ValueError, LookupError) as exc:
        raise BadInput(str(exc).strip("\"'")) from None
    classes = cl.list_classes(url)
    click.echo("Done. Current class labels on the database:")
    for c in classes:
        click.echo(f"{c['label']} ({c['description'] or ''})")
    if not classes:
        click.echo("None")
