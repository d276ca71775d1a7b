"""The code blocks of the documentation pages, and a runner executing a page's blocks in order.

A ```` ```python ```` block of ``docs/*.md`` or ``README.md`` is run; a ```` ```text ````
block right after it is what the block must print (``...`` matches anything, as in
doctests). A block that cannot run here is preceded by an HTML comment
``<!-- skip: reason -->`` (the reason is required).

``python -m tests.docs_blocks PAGE`` executes PAGE's blocks in order in the current
directory, in the ``__main__`` namespace (functions defined by a page reach worker
processes by value, as in a notebook). After each block it prints :data:`SEPARATOR`;
``S2S_DOCS_OVERRIDE`` (JSON ``{name: value}``) rebinds a name right after the block
that assigns it (e.g. a database URL, to run a page on PostgreSQL).
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

SEPARATOR = "\x1e-- end of docs block --\x1e"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*skip:(.*?)-->\s*$", re.S)


@dataclass(frozen=True)
class Block:
    """A ``python`` block of a page: its code, expected output, line, and skip reason."""

    code: str
    expected: str | None
    line: int
    skip: str | None


def python_blocks(path: Path) -> list[Block]:
    """The ``python`` blocks of a Markdown page, in order.

    Raises
    ------
    ValueError
        A ``<!-- skip: -->`` comment without a reason.
    """
    text = path.read_text(encoding="utf-8")
    fences = [(m.group(1), m.group(2), m.start()) for m in _FENCE.finditer(text)]
    blocks = []
    previous_end = 0
    for i, (lang, body, start) in enumerate(fences):
        before = text[previous_end:start]
        previous_end = start + len(lang) + len(body)
        if lang != "python":
            continue
        skip = None
        match = _SKIP.search(before)
        if match:
            skip = match.group(1).strip()
            if not skip:
                line = text.count("\n", 0, start) + 1
                raise ValueError(f"{path.name}:{line}: '<!-- skip: -->' needs a reason")
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        expected = None
        if nxt and nxt[0] == "text" and not text[start:nxt[2]].split("```", 2)[-1].strip():
            expected = nxt[1]
        blocks.append(Block(body, expected, text.count("\n", 0, start) + 1, skip))
    return blocks


def _assigned(code: str, name: str) -> bool:
    return re.search(rf"^{re.escape(name)}\s*=", code, re.M) is not None


def main(page: str) -> int:
    path = Path(page)
    overrides = json.loads(os.environ.get("S2S_DOCS_OVERRIDE", "{}"))
    namespace = sys.modules["__main__"].__dict__
    # local names: the pages' code runs in this module's namespace and may rebind its globals
    assigned, separator, stdout, stderr = _assigned, SEPARATOR, sys.stdout, sys.stderr
    print_exc = traceback.print_exc
    for block in python_blocks(path):
        if block.skip is None:
            try:
                exec(compile(block.code, f"{path.name}:{block.line}", "exec"), namespace)  # noqa: S102
            except BaseException:  # noqa: BLE001 - reported with the page's line
                stdout.flush()
                print(f"block at {path.name}:{block.line} failed:", file=stderr)
                print_exc()
                return 1
            for name, value in overrides.items():
                if assigned(block.code, name):
                    namespace[name] = value
        stdout.flush()
        print(separator, file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
