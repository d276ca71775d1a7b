"""The user's function as a run sees it: its signature, its name, where its code lives.

Workers receive the function by value (cloudpickle), so they know neither its
file (tracebacks say ``<dynamic-code>``) nor the folder it imports its sibling
modules from: the parent works both out here.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any


def _user_function(func: Callable) -> Callable:
    """The user's function inside ``functools.partial`` and wrappers (``__wrapped__``;
    ``__s2s_wrapped__``: ours, whose signature is not the user's)."""
    while True:
        inner = (getattr(func, "func", None) or getattr(func, "__s2s_wrapped__", None)
                 or getattr(func, "__wrapped__", None))
        if inner is None or not callable(inner):
            return func
        func = inner


def _name_of(func: Callable) -> str:
    name = getattr(func, "__name__", None) or getattr(_user_function(func), "__name__", None)
    name = name or type(func).__name__
    return "result" if name == "<lambda>" else name


def check_function(func: Any, nargs: int, expected: str, hint: str) -> None:
    """Raise TypeError unless ``func`` can be called with ``nargs`` positional arguments.

    ``expected`` says how it is called (e.g. ``"func(segment)"``), ``hint`` what to
    do otherwise. Callables without a signature (some builtins) are trusted.
    """
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*([None] * nargs))
    except TypeError:
        name = getattr(_user_function(func), "__name__", None) or repr(func)
        raise TypeError(
            f"{name}{sig} cannot be called as {expected}: {hint}"
        ) from None


def _code_files(func: Callable) -> dict[tuple[str, int], str]:
    """``(name, first line) -> file`` of the code of ``func``'s module, for tracebacks.

    Workers get functions by value, whose code has lost its file name."""
    user = _user_function(func)
    module = sys.modules.get(getattr(user, "__module__", None) or "")
    roots = [v for v in vars(module).values()] if module is not None else []
    roots.append(user)
    found: dict[tuple[str, int], str] = {}
    todo = []
    for obj in roots:
        obj = getattr(obj, "__func__", obj)
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            todo.append(code)
        elif isinstance(obj, type) and obj.__module__ == getattr(module, "__name__", None):
            codes = (getattr(getattr(m, "__func__", m), "__code__", None)
                     for m in vars(obj).values())
            todo.extend(c for c in codes if isinstance(c, types.CodeType))
    while todo:
        code = todo.pop()
        found.setdefault((code.co_name, code.co_firstlineno), code.co_filename)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def _import_paths(func: Callable) -> tuple[str, ...]:
    """What workers must import from: this process's ``sys.path``, and the folder of
    the file ``func`` was loaded from."""
    paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    module = sys.modules.get(getattr(_user_function(func), "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if file and os.path.isfile(file):
        folder = os.path.dirname(os.path.abspath(file))
        if folder not in paths:
            paths.insert(0, folder)
    return tuple(dict.fromkeys(paths))
