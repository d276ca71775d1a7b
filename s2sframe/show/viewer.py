"""The viewer's state and answers, independent of HTTP: selection, segments, plots, labels.

A :class:`Viewer` holds the ids of the selected segments (in order: by id for a
database selection, the frame's row order for ``df.s2s.show()``). Segments are
read in batches of consecutive positions (one metadata query and one waveform
query per batch, the next batch prefetched in the background), so moving to the
next segment usually costs no query but the labels. Only the current segment's
samples are sent to the page, decimated to the page's width (:mod:`.series`).
While a segment is shown, the next ones are prepared in the background (plots,
pre-processing, station inventories: :meth:`Viewer._compute_ahead`); every plot,
pre-processing and station parse is computed once, whoever asks first.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db import attributes, classlabels, schema
from ..db import urls as _db
from ..db.scan import scan
from ..db.selection import where
from ..decode import InventoryCache
from ..engine.segment import Segment, make_segments
from ..engine.source import DBSource
from ..exceptions import DatabaseError, ReadOnlyError, describe_error
from .series import Plot, to_plot
from .userfuncs import PlotSegment, UserFunctions

__all__ = ["META", "ReadOnlyError", "Viewer", "format_selection", "parse_selection"]

#: Attributes shown in the metadata panel (labels are read fresh, logs on the downloads page).
META = [n for n in attributes.ATTRIBUTES if not n.startswith("classes.")
        and n not in ("classlabels_count", "download.log", "download.config")]
#: The default selection of ``s2s show`` without one in the configuration.
DEFAULT_SELECTION = {"has_valid_data": "true"}


def parse_selection(text: str) -> dict[str, str]:
    """Parse ``name: expression`` lines (the selection box) into a selection dict.

    Blank lines and ``#`` comments are skipped; an expression wholly in quotes
    is unquoted (as in the YAML of ``segments_selection``).

    Examples
    --------
    >>> parse_selection("event.magnitude: [4, 5)\\n# c\\nhas_valid_data: 'true'")
    {'event.magnitude': '[4, 5)', 'has_valid_data': 'true'}
    """
    out: dict[str, str] = {}
    for num, line in enumerate(str(text).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, expr = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"line {num} of the selection: expected 'attribute: expression', "
                             f"got {line!r}")
        expr = expr.strip()
        if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
            expr = expr[1:-1]
        out[name.strip()] = expr
    return out


def format_selection(selection: Mapping[str, Any]) -> str:
    """The selection box's text of a selection dict (inverse of :func:`parse_selection`)."""
    return "\n".join(f"{k}: {v}" for k, v in selection.items())


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC).timestamp()
    return None


describe = describe_error  # the name this module's users know


class _LRU(OrderedDict):
    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class Viewer:
    """Selection, segments, plots and labels of one ``s2s show`` session.

    Parameters
    ----------
    dburl : str or URL
        The database.
    config : dict, optional
        The configuration passed to the user functions; its ``segments_selection``
        is the initial selection (default ``has_valid_data: true``).
    functions : UserFunctions, optional
        The pre-processing and plot functions.
    ids : sequence of int, optional
        Show these segments in this order (``df.s2s.show()``); selections then
        narrow them down.
    readonly : bool
        Open the database read-only: label writes raise :class:`ReadOnlyError`.
    annotator : str, optional
        Name written with each label (default: the login name).
    """

    batch_size = 40

    def __init__(self, dburl: str | URL, *, config: Mapping[str, Any] | None = None,
                 functions: UserFunctions | None = None, ids: Sequence[int] | None = None,
                 readonly: bool = False, annotator: str | None = None) -> None:
        self.url = _db.parse_url(dburl)
        self.readonly = readonly
        self.ro_engine = _db.get_engine(self.url, readonly=True)
        self._rw_engine: sa.engine.Engine | None = None
        self.lf = scan(self.url)  # raises DatabaseError if not a stream2segment database
        self.functions = functions or UserFunctions()
        self.config: dict[str, Any] = dict(config or {})
        self.config_version = 0
        self.frame_ids = None if ids is None else np.asarray(list(ids), dtype=np.int64)
        if annotator is None:
            import getpass

            try:
                annotator = getpass.getuser()
            except Exception:  # noqa: BLE001 - no login name (e.g. containers)
                annotator = "anonymous"
        self.annotator = annotator
        self.inventories = InventoryCache()
        from ..signal.obspy_plugins import cache_plugin_lookups

        cache_plugin_lookups()  # the user's pre-processing: Trace.filter, taper...
        self._lock = threading.RLock()
        self._label_lock = threading.Lock()
        self._batches: _LRU = _LRU(6)
        self._pre: _LRU = _LRU(16)
        self._plots: _LRU = _LRU(64)
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2s-prefetch")
        self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2s-ahead")
        self._ahead_gen = 0
        self._stations: _LRU = _LRU(1024)  # station id -> Future of its first parse
        self._closed = False
        self.ids = np.empty(0, dtype=np.int64)
        self.selection: dict[str, Any] = {}
        sel = self.config.get("segments_selection")
        if sel is None:
            sel = {} if self.frame_ids is not None else DEFAULT_SELECTION
        self.select(sel)

    def close(self) -> None:
        self._closed = True
        self._prefetch.shutdown(wait=False, cancel_futures=True)
        self._ahead.shutdown(wait=False, cancel_futures=True)

    # -- selection -------------------------------------------------------------------
    def select(self, selection: Mapping[str, Any]) -> int:
        """Select the segments (SelectionError for bad ones); return their number."""
        expr = where(dict(selection))
        if self.frame_ids is not None and not dict(selection):
            ids = self.frame_ids
        else:
            found = self.lf.filter(expr).select("id").collect()["id"].to_numpy()
            if self.frame_ids is not None:
                ids = self.frame_ids[np.isin(self.frame_ids, found)]
            else:
                ids = np.sort(found)
        with self._lock:
            self.ids = np.asarray(ids, dtype=np.int64)
            self.selection = dict(selection)
            self._batches.clear()
        return int(self.ids.size)

    @property
    def count(self) -> int:
        return int(self.ids.size)

    # -- configuration ---------------------------------------------------------------
    def set_config(self, config: Mapping[str, Any]) -> None:
        with self._lock:
            self.config = dict(config)
            self.config_version += 1
            self._pre.clear()
            self._plots.clear()

    # -- segments --------------------------------------------------------------------
    def _load_batch(self, ids: list[int]) -> tuple[list[Segment], pl.DataFrame]:
        frame = self.lf.filter(pl.col("id").is_in(ids)).select(META).collect()
        frame = pl.DataFrame({"id": ids}).join(frame, on="id", how="left",
                                              maintain_order="left")
        source = DBSource(self.url, inventories=self.inventories, engine=self.ro_engine)
        source.load(ids)
        return make_segments(frame, source), frame

    def _batch(self, number: int) -> Future:
        with self._lock:
            key = (id(self.ids), number)
            fut = self._batches.get(key)
            if fut is None:
                ids = self.ids[number * self.batch_size:(number + 1) * self.batch_size].tolist()
                fut = self._prefetch.submit(self._load_batch, ids)
                self._batches.put(key, fut)
            return fut

    def segment(self, index: int) -> tuple[Segment, dict[str, Any]]:
        """The segment at position ``index`` of the selection and its metadata row."""
        if not 0 <= index < self.count:
            raise IndexError(f"segment index {index} out of range (0..{self.count - 1})")
        number, pos = divmod(index, self.batch_size)
        fut = self._batch(number)
        if pos >= self.batch_size // 2 and (number + 1) * self.batch_size < self.count:
            self._batch(number + 1)
        elif pos < self.batch_size // 2 and number > 0:
            self._batch(number - 1)
        segments, frame = fut.result()
        return segments[pos], frame.row(pos, named=True)

    def siblings(self, segment: Segment) -> list[Segment]:
        """The other components (same event, station, location, band and instrument)."""
        seg, cha = schema.segments, schema.channels
        me = sa.select(seg.c.event_id, cha.c.station_id, cha.c.location, cha.c.channel) \
            .join(cha, cha.c.id == seg.c.channel_id).where(seg.c.id == segment.id)
        with self.ro_engine.connect() as conn:
            row = conn.execute(me).first()
            if row is None:
                return []
            stmt = (sa.select(seg.c.id).join(cha, cha.c.id == seg.c.channel_id)
                    .where(seg.c.event_id == row.event_id, cha.c.station_id == row.station_id,
                           cha.c.location == row.location,
                           sa.func.substr(cha.c.channel, 1, 2) == row.channel[:2],
                           seg.c.id != segment.id)
                    .order_by(cha.c.channel))
            ids = [r[0] for r in conn.execute(stmt)]
        return self._load_batch(ids)[0] if ids else []

    # -- plots -----------------------------------------------------------------------
    def _base(self, segment: Segment, preprocessed: bool) -> Any:
        """The raw or pre-processed stream of a segment, or the exception getting it."""
        try:
            raw = segment.stream()
        except Exception as exc:  # noqa: BLE001 - shown in the plot area
            return exc
        if not preprocessed:
            return raw

        def preprocess() -> Any:
            self._await_station(segment)  # a parse under way ahead: not twice
            try:
                result = self.functions.preprocess(PlotSegment(segment, raw), self.config)
                if hasattr(result, "stats") and hasattr(result, "data"):
                    from obspy import Stream

                    result = Stream([result])
                elif not (hasattr(result, "traces") and hasattr(result, "select")):
                    raise TypeError(f"the pre-processing must return an ObsPy Trace or "
                                    f"Stream, not {type(result).__name__}")
            except Exception as exc:  # noqa: BLE001 - shown in the plot area
                result = RuntimeError(f"(pre-processing) {describe(exc)}")
            return result

        # others asking meanwhile (e.g. the look-ahead) wait for this one
        return self._computed(self._pre, (segment.id, self.config_version), preprocess)

    def plot(self, segment: Segment, name: str, preprocessed: bool, width: int) -> dict[str, Any]:
        """The plot ``name`` ('' = the waveform) of a segment as JSON-ready data.

        Computed once per segment, plot, view and configuration (and kept for zooms):
        a request meeting the computation under way (e.g. done ahead) waits for it.
        """
        key, result = self._plot(segment, name, preprocessed)
        out: dict[str, Any] = {"key": key, "name": name}
        if isinstance(result, str):
            out["error"] = result
        else:
            out.update(result.view(width))
        return out

    def _plot(self, segment: Segment, name: str, preprocessed: bool) -> tuple[str, Plot | str]:
        """(key, the plot or its error message), computed once."""
        key = f"{segment.id}:{name}:{int(preprocessed)}:{self.config_version}"
        return key, self._computed(self._plots, key, lambda: self._compute_plot(
            segment, name, preprocessed))

    def _compute_plot(self, segment: Segment, name: str, preprocessed: bool) -> Plot | str:
        try:
            if name == "":
                base = self._base(segment, preprocessed)
                result = PlotSegment(segment, base).stream()
            else:
                func = self.functions.plots.get(name)
                if func is None:
                    raise LookupError(f"no plot function named {name!r}")
                base = self._base(segment, preprocessed)
                result = func.func(PlotSegment(segment, base), self.config)
            return to_plot(result, name or segment.seed_id)
        except Exception as exc:  # noqa: BLE001 - the page shows it in the plot area
            return describe(exc)

    def _computed(self, cache: _LRU, key: Any, compute: Any) -> Any:
        """``compute()`` once per key of ``cache``; callers meanwhile wait for its result."""
        with self._lock:
            found: Future[Any] | None = cache.get(key)
            owner = found is None
            fut: Future[Any] = Future() if found is None else found
            if owner:
                cache.put(key, fut)
        if owner:
            fut.set_result(compute())
        return fut.result()

    def zoom(self, key: str, x0: float | None, x1: float | None, width: int) -> dict[str, Any]:
        """A plot computed before, between ``x0`` and ``x1`` (full resolution when zoomed in)."""
        with self._lock:
            fut: Future | None = self._plots.get(key)
        plot = fut.result() if fut is not None and fut.done() else None
        if not isinstance(plot, Plot):
            raise LookupError("plot no longer in memory: redraw it")
        return {"key": key, **plot.view(width, x0, x1)}

    def segment_data(self, index: int, *, preprocessed: bool = False, components: bool = False,
                     width: int = 1600, plots: Sequence[str] = ()) -> dict[str, Any]:
        """Everything the page shows of one segment but the user plots (requested apart).

        ``plots``: the user plots on screen, computed ahead for the next segment.
        """
        segment, row = self.segment(index)
        main = self.plot(segment, "", preprocessed, width)
        main["markers"] = [
            {"x": _epoch(row.get("arrival_time")), "label": "arrival", "kind": "arrival"},
            {"x": _epoch(row.get("request_start")), "label": "request start", "kind": "window"},
            {"x": _epoch(row.get("request_end")), "label": "request end", "kind": "window"},
        ]
        out = {
            "index": index, "count": self.count, "id": segment.id,
            "seed_id": row.get("seed_id"),
            "metadata": [[k, _json(v)] for k, v in row.items()],
            "labels": classlabels.segment_labels(self.ro_engine, segment.id),
            "main": main,
        }
        if components:
            out["components"] = [{**self.plot(s, "", preprocessed, width),
                                  "markers": main["markers"],  # same event and station
                                  "seed_id": s.seed_id}
                                 for s in self.siblings(segment)]
        self._compute_ahead(index, preprocessed, list(plots))
        return out

    #: segments after the one shown whose stations' inventories are parsed ahead
    inventories_ahead = 12
    #: segments after the one shown pre-processed ahead (responses evaluated)
    preprocess_ahead = 2

    def _compute_ahead(self, index: int, preprocessed: bool, plots: list[str]) -> None:
        """Prepare the next segments in the background while this one is looked at.

        In order: the next segment's waveform and the user plots on screen (pre-processed
        when that view is on), with the pre-processed view the next ``preprocess_ahead``
        segments, then the inventories of the stations of the next
        ``inventories_ahead`` segments (a new station's StationXML parse and response
        evaluation are the slow part of a first pre-processed plot). A newer call
        (the user moved on) stops the older work at its next step.
        """
        with self._lock:
            self._ahead_gen += 1
            gen = self._ahead_gen

        def steps() -> Any:
            last = min(self.count, index + 1 + self.inventories_ahead)
            if index + 1 < last:
                nxt = self.segment(index + 1)[0]
                for name in ["", *plots]:
                    yield lambda s=nxt, n=name: self._plot(s, n, preprocessed)
            if preprocessed:
                for i in range(index + 2, min(last, index + 1 + self.preprocess_ahead)):
                    yield lambda i=i: self._base(self.segment(i)[0], True)
                for i in range(index + 1, last):
                    yield lambda i=i: self._station(self.segment(i)[0])

        def work() -> None:
            for step in steps():
                if gen != self._ahead_gen or self._closed:
                    return
                try:
                    step()
                except Exception:  # noqa: BLE001 - computed again (and shown) when asked
                    pass

        self._ahead.submit(work)

    def _station(self, segment: Segment) -> None:
        """Parse the inventory of the segment's station unless done (or under way)."""
        def parse() -> bool:
            try:
                segment.inventory()
            except Exception:  # noqa: BLE001 - SkipSegment etc.: the plot shows it
                pass
            return True

        station = self._station_key(segment)
        if station is not None:
            self._computed(self._stations, station, parse)

    def _await_station(self, segment: Segment) -> None:
        """Wait for the parse of the segment's station if the look-ahead is doing it."""
        with self._lock:
            fut = self._stations.get(self._station_key(segment))
        if fut is not None:
            fut.result()

    @staticmethod
    def _station_key(segment: Segment) -> Any:
        try:
            return segment.station.id
        except Exception:  # noqa: BLE001 - no station row
            return None

    # -- labels ----------------------------------------------------------------------
    @property
    def rw_engine(self) -> sa.engine.Engine:
        if self.readonly:
            raise ReadOnlyError("the database is open read-only (--readonly): labels cannot change")
        if self._rw_engine is None:
            self._rw_engine = _db.get_engine(self.url)
        return self._rw_engine

    def set_label(self, segment_id: int, class_id: int, value: bool) -> dict[str, Any]:
        """Label (or unlabel) a segment of the current selection; setting a label the
        segment has (or removing one it has not) is a success that changes nothing, also
        when another client wrote it at the same moment."""
        engine = self.rw_engine  # ReadOnlyError first
        with self._lock:
            shown = bool(np.isin(segment_id, self.ids))
        if not shown:  # the page only labels the segment it shows
            raise LookupError(f"segment {segment_id} is not in the current selection")
        with self._label_lock:  # this viewer's clients one at a time
            try:
                count = classlabels.set_label(engine, segment_id, class_id, value,
                                     annotator=classlabels.annotator_stamp(self.annotator))
            except DatabaseError:  # e.g. another program inserted the same label first
                if (class_id in classlabels.segment_labels(self.ro_engine, segment_id)) != value:
                    raise
                count = classlabels.find_class(self.ro_engine, class_id)["count"]
        return {"count": count, "labels": classlabels.segment_labels(self.ro_engine, segment_id)}

    def classes(self) -> list[dict[str, Any]]:
        return classlabels.list_classes(self.ro_engine)

    def add_class(self, label: str, description: str | None) -> list[dict[str, Any]]:
        classlabels.add_class(self.rw_engine, label, description)
        return self.classes()

    def delete_class(self, class_id: int) -> list[dict[str, Any]]:
        cls = classlabels.find_class(self.ro_engine, int(class_id))
        classlabels.delete_class(self.rw_engine, cls["label"])
        return self.classes()
