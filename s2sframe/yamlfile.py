"""YAML files and texts: the one loader of s2sframe, with errors naming file, line and key.

Every YAML s2sframe reads (processing and viewer configurations, ``download.yaml``,
the parameters of the templates, the configuration typed in the viewer) goes
through :func:`parse_yaml` (:func:`read_yaml` for a file). Compared with
``yaml.safe_load`` it

- names the file (never ``"<unicode string>"``), the line and the key of every
  error, e.g. an invalid date written without quotes (``starttime: 2021-02-30``);
- refuses a file that is not UTF-8 text, and aliases (``*name``) expanding to more
  than :data:`MAX_EXPANDED` values (a "billion laughs" bomb) or into themselves;
- warns (:class:`~s2sframe.exceptions.ConfigWarning`) about keys that are a near
  miss of a known key (``segment_selection`` for ``segments_selection``), which
  would otherwise be silently ignored.

Errors are :class:`~s2sframe.exceptions.ConfigFileError` (a ``ValueError``; the
``s2s`` command exits with code 2).
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .exceptions import ConfigFileError, ConfigWarning

__all__ = ["MAX_EXPANDED", "Known", "near_miss", "parse_yaml", "read_yaml", "warn_near_misses"]

#: Most values aliases may add to a document (the values an anchored item holds
#: count again at each ``*alias``): far more than any configuration needs, far less
#: than the 10**9 of a "billion laughs" bomb.
MAX_EXPANDED = 100_000

#: Known keys: a key -> the known keys of its value (a mapping), or None (any value).
Known: TypeAlias = Mapping[str, "Known | None"]


class _BadValue(Exception):
    """A scalar that cannot be built (e.g. the date 2021-02-30), and its node."""

    def __init__(self, node: Node, problem: str) -> None:
        super().__init__(problem)
        self.node, self.problem = node, problem


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose failures keep the node they happened on."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. day is out of range for month
            if node.tag.endswith(":timestamp"):
                problem = (f"invalid date {node.value!r} ({exc}): write a valid date, or "
                           "quote it to keep it as text")
            else:
                problem = f"invalid value {getattr(node, 'value', '')!r} ({exc})"
            raise _BadValue(node, problem) from None


def read_yaml(path: str | os.PathLike[str], *, known: Known | None = None) -> Any:
    """The content of the YAML file ``path`` (see :func:`parse_yaml`).

    Raises
    ------
    ConfigFileError
        The file is missing, is not UTF-8 text, or :func:`parse_yaml` fails.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.yaml")
    >>> _ = open(path, "wb").write(b"station: Z\\xe9\\n")
    >>> read_yaml(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.ConfigFileError: .../bad.yaml, line 1: not UTF-8 text (byte 0xe9 ...
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigFileError(f"YAML file not found: {name}", name) from None
    except IsADirectoryError:
        raise ConfigFileError(f"{name} is a folder, not a YAML file", name) from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read {name}: {exc.strerror or exc}", name) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigFileError(
            f"{name}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}): save the file with the UTF-8 encoding", name, line) from None
    return parse_yaml(text, name, known=known)


def parse_yaml(text: str, name: str = "<text>", *, known: Known | None = None) -> Any:
    """The content of the YAML ``text`` (``yaml.safe_load``), read from ``name``.

    Parameters
    ----------
    text : str
        The YAML.
    name : str
        Where ``text`` comes from (a file path), named by errors and warnings.
    known : mapping, optional
        The keys the caller reads: key -> the known keys of its value (a mapping)
        or None. A key of the YAML that is not known but close to a known one at
        the same place gets a :class:`~s2sframe.exceptions.ConfigWarning` naming
        the line and the known key (other keys are the user's: no warning).

    Returns
    -------
    object
        What the YAML holds (a dict for a mapping; None for an empty text).

    Raises
    ------
    ConfigFileError
        Invalid YAML, invalid value (e.g. an unquoted date that does not exist),
        aliases expanding to too many values or into themselves. The message
        names ``name``, the line and the key (as ``a.b[0]``) when there is one.

    Examples
    --------
    >>> parse_yaml("events:\\n  starttime: 2021-02-30\\n", "download.yaml")
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.ConfigFileError: download.yaml, line 2, key 'events.starttime': invalid date '2021-02-30' (day is out of range for month): write a valid date, or quote it to keep it as text
    >>> parse_yaml("a: [1, 2\\n", "c.yaml")
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.ConfigFileError: c.yaml, line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence started on line 1)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     parse_yaml("segment_selection: {id: '<5'}\\n", "p.yaml",
    ...                known={"segments_selection": None})
    {'segment_selection': {'id': '<5'}}
    >>> print(caught[0].message)
    p.yaml, line 1: unknown key 'segment_selection' (ignored): did you mean 'segments_selection'?
    """
    loader = _Loader(text)
    loader.name = name  # the name marks (and PyYAML's own messages) show
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_aliases(root, name)
            data = loader.construct_document(root)
        except _BadValue as exc:
            path = _key_path(root, exc.node)
            where = f", key {path!r}" if path else ""
            line = exc.node.start_mark.line + 1
            raise ConfigFileError(f"{name}, line {line}{where}: {exc.problem}", name, line,
                                  path) from None
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, name) from None
        except yaml.YAMLError as exc:
            raise ConfigFileError(f"{name}: invalid YAML: {exc}", name) from None
    finally:
        loader.dispose()
    if known is not None:
        warn_near_misses(data, known, name, root)
    return data


def _syntax_error(exc: yaml.MarkedYAMLError, name: str) -> ConfigFileError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    where = f"{name}, line {line}, column {mark.column + 1}" if mark is not None else name
    message = f"{where}: invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark is not mark:
            context += f" started on line {exc.context_mark.line + 1}"
        message += f" ({context})"
    return ConfigFileError(message, name, line)


def _children(node: Node) -> Iterable[tuple[str | int | None, Node]]:
    """(key or index, child node) of a collection node; keys given for scalar keys only."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            label = key.value if isinstance(key, ScalarNode) else None
            yield None, key
            yield label, value
    elif isinstance(node, SequenceNode):
        yield from enumerate(node.value)


def _check_aliases(root: Node, name: str) -> None:
    """Refuse aliases that expand into themselves or to more than MAX_EXPANDED values."""
    sizes: dict[int, int] = {}  # values held by a node, aliases expanded
    active: set[int] = set()
    distinct = 0

    def size(node: Node) -> int:
        nonlocal distinct
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigFileError(
                f"{name}, line {node.start_mark.line + 1}: an alias (*name) refers to the "
                "item holding it: recursive structures are refused", name,
                node.start_mark.line + 1)
        active.add(key)
        distinct += 1
        total = 1 + sum(size(child) for _, child in _children(node))
        active.discard(key)
        sizes[key] = total
        if total - distinct > MAX_EXPANDED:
            raise ConfigFileError(
                f"{name}, line {node.start_mark.line + 1}: aliases (*name) expand to more than "
                f"{MAX_EXPANDED} values (a 'billion laughs' bomb?): refused", name,
                node.start_mark.line + 1)
        return total

    size(root)


def _key_path(root: Node, target: Node) -> str:
    """The key of ``target`` in the document (``a.b[0]``), '' if it is the document."""
    stack: list[tuple[Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        for label, child in _children(node):
            if isinstance(label, int):
                stack.append((child, f"{path}[{label}]"))
            elif label is not None:
                stack.append((child, f"{path}.{label}" if path else str(label)))
            else:  # a key: errors in keys are named by the mapping's path
                stack.append((child, path))
    return ""


def near_miss(key: str, known: Iterable[str]) -> str | None:
    """The known key ``key`` is probably a typo of, or None.

    Examples
    --------
    >>> near_miss("segment_selection", ["segments_selection", "advanced_settings"])
    'segments_selection'
    >>> near_miss("snr_threshold", ["segments_selection", "advanced_settings"]) is None
    True
    """
    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.8)
    return match[0] if match else None


def warn_near_misses(data: Any, known: Known, name: str, root: Node | None = None,
                     prefix: str = "") -> None:
    """Warn (:class:`~s2sframe.exceptions.ConfigWarning`) about the keys of ``data`` that
    are not in ``known`` but close to a key there (at the same place).

    ``name`` names where ``data`` comes from; ``root``, its YAML node, gives the lines.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_near_misses({"advanced_settings": {"num_process": 4}}, {
    ...         "advanced_settings": {"num_processes": None}}, "config")
    >>> print(caught[0].message)
    config: unknown key 'advanced_settings.num_process' (ignored): did you mean 'advanced_settings.num_processes'?
    """
    if not isinstance(data, Mapping):
        return
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        if key in known:
            sub = known[key]
            if sub is not None:
                warn_near_misses(value, sub, name, root, f"{prefix}{key}.")
            continue
        match = near_miss(key, known)
        if match is not None:
            line = _key_line(root, prefix + key) if root is not None else None
            where = f"{name}, line {line}" if line is not None else name
            warnings.warn(f"{where}: unknown key {prefix + key!r} (ignored): did you mean "
                          f"{prefix + match!r}?", ConfigWarning, stacklevel=2)


def _key_line(root: Node, path: str) -> int | None:
    """The line of the key ``path`` (``a.b``) in the document ``root``."""
    node: Node = root
    line = None
    for part in path.split("."):
        if not isinstance(node, MappingNode):
            return line
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            return line
    return line
