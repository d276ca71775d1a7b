"""Switching from stream2segment: what its users find identical (and the differences we keep).

Each test states a fact of stream2segment (its templates, its processing tests, its
writers and models) and checks that s2sframe behaves so; docs/migrating.md lists them.
"""

from __future__ import annotations

import re

import pytest

import s2sframe
from s2sframe.process import get_segment_help


def test_get_segment_help_lists_attributes_and_methods():
    text = get_segment_help()  # stream2segment's notebook: display(HTML(get_segment_help()))
    assert text.startswith('<table class="s2s-segment-summary-table" style="max-width:79em;">')
    assert text.endswith("</table>")
    names = re.findall(r"<tr><td [^>]*><span>(.*?)</span></td>", text)
    shown = set(names)
    for name in s2sframe.attributes()["name"]:
        if name not in ("download_code", "station.inventory_xml") and not name.startswith(
                "download.") or name in ("download.id", "download.run_time"):
            assert name in shown, name
    assert names.index("stream(reload=False)") < names.index("inventory(reload=False, format=None)")
    assert "siblings(*matching_attributes, include_self=False)" in shown
    row = re.search(r"<span>maxgap_numsamples</span></td><td [^>]*>(.*?)</td>", text).group(1)
    assert row.startswith("float: ") and "gap" in row
    assert get_segment_help(maxwidth=0).startswith("<table>\n")
    plain = get_segment_help("text")
    assert "event.magnitude" in plain and "<" not in plain.splitlines()[1]
    with pytest.raises(ValueError, match='format "markdown" not supported'):
        get_segment_help("markdown")
