"""mkdocs hooks of the documentation site (mkdocs.yml ``hooks:``).

The docstrings use Sphinx roles (``:func:`scan```), which mkdocstrings renders
as text followed by code: keep only the code.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj):<code>~?")


def on_post_page(output: str, **kwargs: object) -> str:
    return _ROLE.sub("<code>", output)
