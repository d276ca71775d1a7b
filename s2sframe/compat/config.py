"""YAML configurations, processing functions loaded from files, log file names.

Everything here raises :class:`BadInput` (a ``ValueError``) with a message
meant for the user when the input is wrong: the ``s2s`` command turns it into
exit code 2.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ..exceptions import BadInput, describe_error
from ..yamlfile import Known, read_yaml, warn_near_misses

__all__ = ["CONFIG_KEYS", "BadInput", "MissingFile", "check_pyfunc", "load_config",
           "load_module", "load_pyfunc", "logfile_path", "resolve_dburl", "yaml_load"]

#: The keys of a processing (or viewer) configuration that s2sframe reads; the
#: others are the processing function's. A key close to one of these is warned
#: about (``segment_selection``: a typo that would select the default segments).
CONFIG_KEYS: Known = {
    "dburl": None,
    "segments_selection": None,
    "advanced_settings": {"multi_process": None, "num_processes": None,
                          "segments_chunksize": None, "writer_options": None},
}


class MissingFile(BadInput, FileNotFoundError):
    """A file given by the user does not exist: also a ``FileNotFoundError``, as
    stream2segment's ``yaml_load`` raised."""


def _merge(base: dict, updates: Mapping) -> dict:
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _sqlite_relative_to(dburl: Any, folder: Path) -> Any:
    """``sqlite:///relative/path`` -> ``sqlite:////<folder>/relative/path``."""
    prefix = "sqlite:///"
    if isinstance(dburl, str) and dburl.startswith(prefix):
        path = dburl[len(prefix):]
        if path and path != ":memory:" and not path.startswith("file:") \
                and not os.path.isabs(path):
            return prefix + str(folder / path)
    return dburl


def yaml_load(source: str | os.PathLike | Mapping, **updates: Any) -> dict:
    """Load a YAML file (or copy a dict) and merge ``updates`` into it.

    A ``dburl`` written as a relative SQLite path (``sqlite:///db.sqlite``) is
    made relative to the folder of the YAML file, not to the current directory.
    Nested dicts of ``updates`` are merged (``a={'c': 2}`` keeps ``a['b']``).

    Parameters
    ----------
    source : str, path or dict
        The YAML file.
    **updates
        Values replacing (or merged into) those of the file.

    Returns
    -------
    dict

    Raises
    ------
    BadInput
        Missing file, invalid YAML, a YAML that is not a mapping; a
        :class:`~s2sframe.exceptions.ConfigFileError` (a BadInput) names the file,
        line and key (see :func:`s2sframe.yamlfile.read_yaml`).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "download.yaml")
    >>> _ = open(path, "w").write("dburl: sqlite:///db.sqlite\\nmagnitude: 5\\n")
    >>> cfg = yaml_load(path, magnitude=6)
    >>> cfg["dburl"] == "sqlite:///" + os.path.join(os.path.dirname(path), "db.sqlite")
    True
    >>> cfg["magnitude"]
    6
    """
    data = _copy(source) if isinstance(source, Mapping) else _read_mapping(source)
    return _merge(data, updates)


def _read_mapping(source: str | os.PathLike, known: Known | None = None) -> dict:
    """The mapping of a YAML file, its relative SQLite ``dburl`` made relative to the file."""
    path = Path(source)
    if not path.is_file():
        raise MissingFile(f"YAML file not found: {path}")
    data = read_yaml(path, known=known)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInput(f"{path} must hold a mapping (key: value lines), "
                       f"not a {type(data).__name__}")
    if "dburl" in data:
        data["dburl"] = _sqlite_relative_to(data["dburl"], path.resolve().parent)
    return data


def _copy(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


def load_config(config: str | os.PathLike | Mapping | None) -> dict:
    """The ``config`` argument of ``imap``/``process``: a dict (kept as is), a YAML path or None."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        warn_near_misses(config, CONFIG_KEYS, "config")
        return config if isinstance(config, dict) else dict(config)
    if isinstance(config, str | os.PathLike):
        return _read_mapping(config, CONFIG_KEYS)
    raise BadInput(f"config must be a dict or the path of a YAML file, not {type(config).__name__}")


def resolve_dburl(value: str) -> str:
    """A database URL, or the ``dburl`` of the YAML file ``value`` (for ``s2s process -d``)."""
    text = str(value)
    if text.lower().endswith((".yaml", ".yml")) and "://" not in text:
        config = yaml_load(text)
        if not config.get("dburl"):
            raise BadInput(f"{text} has no 'dburl' entry")
        return str(config["dburl"])
    return text


def check_pyfunc(pyfunc: Any) -> None:
    """Raise BadInput unless ``pyfunc`` can be called as ``pyfunc(segment, config)``."""
    from ..engine.functions import check_function

    if not callable(pyfunc):
        raise BadInput(f"the processing function must be callable, not {type(pyfunc).__name__}")
    try:
        check_function(pyfunc, 2, "pyfunc(segment, config)", (
            "it must accept two arguments (segment, config), e.g. def main(segment, "
            "config): ... (imap and process pass the config; for a function of the segment "
            "only, use s2sframe.map_segments)"))
    except TypeError as exc:
        raise BadInput(f"the processing function {exc}") from None


def load_module(pyfile: str | os.PathLike) -> ModuleType:
    """Import the Python file ``pyfile`` as a new module and return it.

    The module is pickled by value for worker processes. Its folder stays on
    ``sys.path`` (at the end), here and in worker processes, so that the module
    can import the modules next to it (``from helpers import h``), also inside
    its functions.

    Raises
    ------
    BadInput
        Missing file or import error (with its message).
    """
    path = Path(pyfile)
    if not path.is_file():
        raise MissingFile(f"Python file not found: {path}")
    name = f"s2s_processing_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"Cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # the module imports its neighbours, as `python pyfile` would
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error of the user's module
        sys.modules.pop(name, None)
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("stream2segment"):
            hint = (" (a stream2segment module: replace 'stream2segment' with 's2sframe' in "
                    "the imports, e.g. 'from s2sframe.process import gui', "
                    "'from s2sframe.process.funclib.traces import bandpass')")
        raise BadInput(f"Cannot import {path}: {describe_error(exc)}{hint}") from exc
    finally:
        if added:
            sys.path.remove(folder)
    if added:  # still importable later (imports inside functions), shadowing nothing
        sys.path.append(folder)
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module


def load_pyfunc(pyfile: str | os.PathLike, funcname: str = "main") -> Callable:
    """Import the Python file ``pyfile`` and return its function ``funcname``.

    See :func:`load_module`.

    Raises
    ------
    BadInput
        Missing file, import error (with its message) or missing function.
    """
    module = load_module(pyfile)
    func = getattr(module, funcname, None)
    if func is None:
        found = sorted(k for k, v in vars(module).items() if inspect.isfunction(v)
                       and v.__module__ == module.__name__)
        hint = f" (functions found: {', '.join(found)})" if found else ""
        raise BadInput(f"function {funcname!r} not found in {pyfile}{hint}")
    check_pyfunc(func)
    return func


def logfile_path(base: str | os.PathLike) -> str:
    """``<base>.<YYYY-MM-DDTHH.MM.SS>.log``, the log file derived from an output file.

    Examples
    --------
    >>> logfile_path("out.csv").startswith("out.csv.") and logfile_path("x").endswith(".log")
    True
    """
    now = dt.datetime.now().strftime("%Y-%m-%dT%H.%M.%S")
    return f"{os.fspath(base)}.{now}.log"
