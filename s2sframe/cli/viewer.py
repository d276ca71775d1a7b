"""``s2s show`` and the ``s2s classlabel`` group."""

from __future__ import annotations

from pathlib import Path

import click

from ..compat.config import BadInput, resolve_dburl
from .common import _handled, confirm_or_stop, main


# ------------------------------------------------------------------------------ show
@main.command()
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
              help="Database URL (sqlite:///path or postgresql://user:pass@host/db), or a "
                   "YAML file with a 'dburl' entry.")
@click.option("-c", "--config", "--configfile", "config",
              type=click.Path(dir_okay=False, path_type=Path),
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
    from ..show import show as run_show

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
    from ..db.urls import get_engine

    url = resolve_dburl(dburl)
    get_engine(url)  # a clear error for missing files / unreachable servers
    return url


@classlabel.command("list")
@click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML", help="Database URL.")
@_handled
def classlabel_list(dburl: str) -> None:
    """Print the classes: id, label, labelled segments, description."""
    from ..db.classlabels import list_classes

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
    from ..db.classlabels import add_class

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
    from ..db.classlabels import rename_class

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
    from ..db.classlabels import delete_class, find_class

    url = _classes_url(dburl)
    try:
        cls = find_class(url, label)
    except LookupError as exc:
        raise BadInput(str(exc).strip("\"'")) from None
    if not yes:
        confirm_or_stop(f"Delete class {label!r} and its {cls['count']} segment label(s)?",
                        "--yes")
    removed = delete_class(url, label)
    click.echo(f"deleted class {label!r} and {removed} segment label(s)", err=True)


