"""``s2s show``: look at segments and label them in the browser.

:func:`show` starts a local web app (127.0.0.1 only) on a database, or on the
rows of a frame with ``df.s2s.show()``; :mod:`s2sframe.show.gui` holds the
``@gui.preprocess`` and ``@gui.plot`` decorators of plot modules. See docs/show.md.

Layout: :mod:`.viewer` (state and answers, no HTTP), :mod:`.server` (HTTP, security,
static files), :mod:`.series` (plot results -> decimated JSON), :mod:`.userfuncs`
(the user's module), :mod:`.frames` (``show_frame``, the ``df.s2s.show()`` method), ``static/`` (the page).
"""

from __future__ import annotations

from typing import Any

from . import gui

__all__ = ["gui", "show"]


def __getattr__(name: str) -> Any:
    """``show`` is imported on first use: ``import s2sframe`` stays light."""
    if name == "show":
        from .app import show

        return show
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
