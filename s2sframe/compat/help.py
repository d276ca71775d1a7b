"""``get_segment_help``: stream2segment's help table of the segment attributes and methods."""

from __future__ import annotations

import html
import inspect
import re
from typing import Any

from ..db import attributes
from .orm import Segment

#: The methods shown first, as in stream2segment; the others follow alphabetically.
_MAIN = ("stream", "inventory", "url", "sds_path", "dbsession", "classlabels")
#: Attributes not worth a row (long texts and internal columns), as in stream2segment.
_HIDDEN = ("download_code", "station.inventory_xml", "download.log", "download.warnings",
           "download.errors", "download.config", "download.program_version")


def _type_name(dtype: Any) -> str:
    """The Python type of a Polars dtype, as stream2segment names it (``datetime.datetime``)."""
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    name = type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__
    inner = getattr(dtype, "inner", None)
    if inner is not None:
        return f"list of {_type_name(inner)}"
    return {"String": "str", "Boolean": "bool", "Datetime": "datetime.datetime",
            "Binary": "bytes", "Date": "datetime.date"}.get(name, name)


def _attributes() -> list[tuple[str, str]]:
    return [(a.name, f"{_type_name(a.dtype)}: {a.doc}") for a in attributes.ATTRIBUTES.values()
            if a.name not in _HIDDEN]


def _methods() -> list[tuple[str, str]]:
    """``(name + signature, first paragraph of the docstring)`` of the Segment's methods
    and properties that are not attributes of the vocabulary nor relations."""
    skip = {a.rsplit(".", 1)[0] for a in attributes.ATTRIBUTES} | set(attributes.ATTRIBUTES) | {
        "metadata", "registry"}
    rows = []
    for name in dict.fromkeys((*_MAIN, *sorted(dir(Segment)))):
        if name.startswith("_") or name in skip:
            continue
        obj = inspect.getattr_static(Segment, name, None)
        doc = inspect.getdoc(obj.fget if isinstance(obj, property) else obj) or ""
        if not doc:
            continue
        label = name
        if inspect.isfunction(obj):
            params = list(inspect.signature(obj).parameters.values())[1:]  # without self
            label += "(" + ", ".join(str(p.replace(annotation=p.empty)) for p in params) + ")"
        rows.append((label, doc.split("\n\n", 1)[0].replace("\n", " ")))
    return rows


def _html(text: str) -> str:
    """Escape, then ``code`` spans (single or double backquotes) as <code>."""
    out = html.escape(text, quote=False)
    return re.sub(r"``?([^`]+?)``?", r"<code>\1</code>", out)


def get_segment_help(format: str = "html", maxwidth: int = 79, **print_kwargs: Any) -> str:  # noqa: A002
    """Return the help of the segment: its selectable attributes and its methods.

    stream2segment's function (its notebook shows it with
    ``display(HTML(get_segment_help()))``): an HTML table with a row per selectable
    attribute (name, Python type and meaning, as :func:`s2sframe.attributes` lists
    them) and then a row per method or property of the segment object.

    Parameters
    ----------
    format : str
        ``"html"`` (stream2segment's only format) or ``"text"`` (two columns of plain
        text, for a terminal).
    maxwidth : int
        HTML: the table's maximum width in em (0 or None: no maximum).
    **print_kwargs
        Ignored (accepted as in stream2segment).

    Raises
    ------
    ValueError
        Any other ``format``.

    Examples
    --------
    >>> from s2sframe.process import get_segment_help
    >>> text = get_segment_help()
    >>> text.startswith('<table class="s2s-segment-summary-table" style="max-width:79em;">')
    True
    >>> "event.magnitude" in text and "stream(reload=False)" in text
    True
    >>> print(get_segment_help("text").splitlines()[1])
    id                              int: the segment's unique id
    """
    sections = [("Selectable attributes", "Type and optional description", _attributes()),
                ("Standard attributes or methods", "Description", _methods())]
    kind = (format or "").lower()
    if kind in ("html", "htm"):
        style = 'style="text-align:left; border-width:1px; border-style:solid"'
        opening = (f'<table class="s2s-segment-summary-table" style="max-width:{maxwidth}em;">'
                   if maxwidth and maxwidth > 0 else "<table>")
        lines = [opening]
        for head1, head2, rows in sections:
            lines.append(f"<tr><td {style}><b>{head1}</b></td><td {style}><b>{head2}</b></td></tr>")
            lines += [f"<tr><td {style}><span>{_html(name)}</span></td><td {style}>{_html(desc)}"
                      "</td></tr>" for name, desc in rows]
        lines.append("</table>")
        return "\n".join(lines)
    if kind == "text":
        width = 30  # longer names (method signatures) push their description right
        lines = []
        for head1, head2, rows in sections:
            lines.append(f"{head1:<{width}}  {head2}")
            lines += [f"{name:<{width}}  {desc}" for name, desc in rows]
        return "\n".join(lines)
    raise ValueError(f'format "{format}" not supported (use "html" or "text")')
