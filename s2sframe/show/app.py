"""Start the viewer: :func:`show` (Python, notebooks, ``s2s show``)."""

from __future__ import annotations

import os
import webbrowser
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import URL

from ..compat.config import BadInput, load_config
from .server import ShowServer
from .userfuncs import UserFunctions
from .viewer import Viewer

__all__ = ["show"]


def show(
    dburl: str | URL,
    *,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    pyfile: str | os.PathLike | None = None,
    ids: Sequence[int] | None = None,
    port: int = 0,
    open_browser: bool = True,
    readonly: bool = False,
    annotator: str | None = None,
    block: bool = False,
    verbose: bool = False,
) -> ShowServer:
    """Open the segments of a database in the browser: waveforms, user plots, class labels.

    Parameters
    ----------
    dburl : str or URL
        The database.
    config : dict or path of a YAML file, optional
        Passed as ``config`` to the plot functions; its ``segments_selection``
        is the initial selection (default: ``has_valid_data: true``).
    pyfile : path, optional
        Python module with ``@gui.preprocess`` / ``@gui.plot`` functions.
    ids : sequence of int, optional
        Show these segments, in this order (what ``df.s2s.show()`` passes).
    port : int
        Port on 127.0.0.1 (0: a free one).
    open_browser : bool
        Open the page in the default browser.
    readonly : bool
        Open the database read-only: no label can be written.
    annotator : str, optional
        Name stored with the labels you set (default: your login name).
    block : bool
        Serve until Ctrl-C (the command line); otherwise serve in a background
        thread and return at once (notebooks): call ``.stop()`` on the result.
    verbose : bool
        Print each request (method and path) to stderr.

    Returns
    -------
    ShowServer
        Its ``url`` is the page address.

    Examples
    --------
    >>> import os, tempfile, urllib.request, json
    >>> from s2sframe.testing import example_database
    >>> from s2sframe.show import show
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> server = show(url, open_browser=False)
    >>> info = json.load(urllib.request.urlopen(server.url + "api/init"))
    >>> info["count"] > 0, info["readonly"]
    (True, False)
    >>> server.stop()
    """
    cfg = load_config(config) if config is not None else {}
    functions = UserFunctions.load(pyfile)
    viewer = Viewer(dburl, config=cfg, functions=functions, ids=ids, readonly=readonly,
                    annotator=annotator)
    try:
        server = ShowServer(viewer, port=port, verbose=verbose)
    except OSError as exc:
        viewer.close()
        raise BadInput(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    if open_browser:
        webbrowser.open(server.url)
    if not block:
        return server.serve_in_thread()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return server
