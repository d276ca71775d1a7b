"""``to_asdf``: segments -> an ASDF file (pyasdf): waveforms, StationXML, QuakeML, provenance.

The workers decode each segment (:class:`.traces.RawTraces`: the traces of
``segment.stream()`` as they are); at the end the parent writes, with pyasdf, the
events of the segments as QuakeML, the StationXML of their stations, every
segment's traces under ``tag`` associated with its event, and a W3C PROV
(SEIS-PROV namespace) document saying which software exported which database,
when. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db import schema
from ..db import urls as _db
from ..db.retry import with_retries
from . import groups
from .run import ERROR, Job, Output, manifest, run, summary
from .traces import RAW_DTYPES, RawTraces, traces_of

#: Event attributes written as QuakeML.
EVENT_COLUMNS = ("event.event_id", "event.time", "event.latitude", "event.longitude",
                 "event.depth_km", "event.magnitude", "event.mag_type", "event.mag_author",
                 "event.author", "event.event_location_name", "event.event_type")
SEIS_PROV = "http://seisprov.org/seis_prov/0.1/#"


def event_resource_id(event_id: int) -> str:
    """The QuakeML resource id of the event of database id ``event_id``.

    Examples
    --------
    >>> event_resource_id(3)
    'smi:local/s2sframe/event/3'
    """
    return f"smi:local/s2sframe/event/{event_id}"


def to_asdf(
    df: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    tag: str = "raw_recording",
    overwrite: bool = False,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: bool = True,
    dburl: str | URL | None = None,
) -> pl.DataFrame:
    """Write the segments of ``df`` to an ASDF file (Adaptable Seismic Data Format, pyasdf).

    The file holds every segment's waveform (the traces of ``segment.stream()``,
    unchanged, under ``tag``, associated with its event), the StationXML of their
    stations (each station's stored document; several epochs of a station are
    merged by pyasdf), their events as QuakeML (origin time, coordinates, depth,
    magnitude and type, description; resource ids ``smi:local/s2sframe/event/<id>``
    with the database id), and a provenance document (``s2sframe_export``: the
    software, its version, the database with its password masked, the time).
    Segments are decoded in parallel by the :func:`s2sframe.map_segments` engine.

    Parameters
    ----------
    df : polars.DataFrame or polars.LazyFrame
        Segments (an ``id`` column; e.g. from :func:`s2sframe.scan`).
    path : str or path
        The ASDF file to write (``.h5``).
    tag : str
        The waveform tag (lower case letters, digits, underscores). ASDF reserves
        ``raw_recording`` for recorded, unprocessed data: these.
    overwrite, workers, chunksize, progress, dburl
        As in :func:`to_seisbench`.

    Returns
    -------
    polars.DataFrame
        One row per row of ``df``: ``id``, ``asdf_station`` (the ``NET.STA`` of its
        waveforms in the file, null if none) and ``s2s_error`` (why not).

    Examples
    --------
    >>> import os, tempfile, s2sframe, pyasdf
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).select("id").head(6).collect()
    >>> h5 = os.path.join(tempfile.mkdtemp(), "demo.h5")
    >>> out = s2sframe.to_asdf(df, h5, workers=0, progress=False, dburl=url)
    >>> out["asdf_station"].to_list()
    [None, 'GE.IPAX', 'GE.IPAX', 'IV.DBVZ', 'IV.DBVZ', 'IV.DBVZ']
    >>> ds = pyasdf.ASDFDataSet(h5, mode="r")
    >>> len(ds.events), sorted(ds.waveforms.list())
    (1, ['GE.IPAX', 'IV.DBVZ'])
    >>> del ds  # closes the file (pyasdf's way)
    """
    import re

    if not isinstance(tag, str) or not re.fullmatch(r"[a-z0-9_]+", tag):
        raise ValueError(f"tag={tag!r}: ASDF tags are lower case letters, digits and "
                         "underscores (e.g. 'raw_recording')")
    df, url, members, keys = groups.prepare(df, dburl, None)
    target = Path(path)
    outcome_file = target.with_name(f".{target.name}.s2s-segments.parquet")
    out = Output(target, lambda: [p for p in (target, outcome_file) if p.exists()],
                 manifest("to_asdf", url, members, {"tag": tag}))
    if out.open(overwrite):
        out.close()
        if progress:
            print(f"to_asdf: {target} already complete; nothing to do", file=sys.stderr)
        return _returned(df, pl.read_parquet(outcome_file))
    try:
        job = Job("to_asdf", RawTraces(), RAW_DTYPES,
                  ("station.network", "station.station", *EVENT_COLUMNS), _part)
        tally = run(keys, members, job, out, url=url, workers=workers, chunksize=chunksize,
                    progress=progress)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        segments = _write(tmp, out.parts(), url, tag)
        tmp_outcome = outcome_file.with_name(outcome_file.name + ".tmp")
        segments.write_parquet(tmp_outcome)
        out.finish([(tmp, target), (tmp_outcome, outcome_file)])
    finally:
        out.close()
    summary("to_asdf", tally, f"{segments.get_column('asdf_station').is_not_null().sum()} "
            f"segments in {target}", progress)
    return _returned(df, segments)


def _part(results: pl.DataFrame) -> pl.DataFrame:
    return results.rename({"__x_group": "group"}).drop("__x_orientation")


def _returned(df: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    return df.select(pl.col("id").cast(pl.Int64)).join(
        segments.select(pl.col("id").cast(pl.Int64), pl.col("asdf_station").cast(pl.String),
                        pl.col(ERROR).cast(pl.String)),
        on="id", how="left", maintain_order="left")


def _write(tmp: Path, parts: list[Path], url: URL, tag: str) -> pl.DataFrame:
    """The ASDF file from the parts; the outcome of every segment."""
    import pyasdf
    from obspy import Stream

    lazy = [pl.scan_parquet(p) for p in parts]
    started = datetime.now(UTC)
    outcome: list[pl.DataFrame] = []
    with pyasdf.ASDFDataSet(str(tmp), mode="w", compression="gzip-3") as ds:
        if lazy:
            events = pl.concat([f.select("event_id", *EVENT_COLUMNS) for f in lazy],
                               how="vertical_relaxed").unique("event_id").sort(
                "event_id").collect()
            ds.add_quakeml(_catalog(events))
            stations = pl.concat([f.select("station.id") for f in lazy]).unique().sort(
                "station.id").collect().get_column("station.id").drop_nulls().to_list()
            _add_stations(ds, url, stations)
        prov_id = _provenance(ds, url, started)
        for path in parts:
            frame = pl.read_parquet(path)
            ok = frame.get_column(ERROR).is_null()
            for row in frame.filter(ok).iter_rows(named=True):
                ds.add_waveforms(Stream(traces_of(row)), tag=tag,
                                 event_id=event_resource_id(row["event_id"]),
                                 provenance_id=prov_id)
            outcome.append(frame.select(
                "id", pl.when(ok).then(pl.col("station.network") + "." + pl.col(
                    "station.station")).alias("asdf_station"), ERROR))
    if not outcome:
        return pl.DataFrame(schema={"id": pl.Int64, "asdf_station": pl.String, ERROR: pl.String})
    return pl.concat(outcome, how="vertical_relaxed")


def _catalog(events: pl.DataFrame) -> Any:
    """QuakeML events (ObsPy Catalog) from the event attributes."""
    from obspy import UTCDateTime
    from obspy.core.event import (
        Catalog,
        CreationInfo,
        Event,
        EventDescription,
        Magnitude,
        Origin,
        ResourceIdentifier,
    )

    catalog = Catalog()
    for row in events.iter_rows(named=True):
        rid = event_resource_id(row["event_id"])
        origin = Origin(resource_id=ResourceIdentifier(rid + "/origin"),
                        time=UTCDateTime(row["event.time"]), latitude=row["event.latitude"],
                        longitude=row["event.longitude"],
                        depth=(row["event.depth_km"] * 1000.0
                               if row["event.depth_km"] is not None else None))
        magnitude = Magnitude(resource_id=ResourceIdentifier(rid + "/magnitude"),
                              mag=row["event.magnitude"], magnitude_type=row["event.mag_type"],
                              origin_id=origin.resource_id,
                              creation_info=CreationInfo(author=row["event.mag_author"]))
        event = Event(resource_id=ResourceIdentifier(rid), origins=[origin],
                      magnitudes=[magnitude], preferred_origin_id=origin.resource_id,
                      preferred_magnitude_id=magnitude.resource_id,
                      creation_info=CreationInfo(author=row["event.author"]))
        event.event_descriptions.append(EventDescription(text=row["event.event_id"],
                                                         type="earthquake name"))
        if row["event.event_location_name"]:
            event.event_descriptions.append(EventDescription(
                text=row["event.event_location_name"], type="region name"))
        try:
            event.event_type = row["event.event_type"]
        except ValueError:  # not a QuakeML event type
            event.event_type = None
        catalog.append(event)
    return catalog


def _add_stations(ds: Any, url: URL, stations: list[int]) -> None:
    """The stored StationXML of ``stations`` into the file (stations without none: skipped)."""
    from ..decode import read_inventory
    from ..exceptions import SkipSegment

    engine = _db.get_engine(url, readonly=True)
    sta = schema.stations
    query = sa.select(sta.c.id, sta.c.inventory_xml).where(
        sta.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(sta.c.id)
    for start in range(0, len(stations), 200):
        ids = stations[start:start + 200]

        def read(ids: list[int] = ids) -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(query, {"ids": ids}).all())

        for _sid, xml in with_retries(read):
            try:
                inventory = read_inventory(bytes(xml) if xml is not None else b"")
            except SkipSegment:
                continue
            ds.add_stationxml(inventory)


def _provenance(ds: Any, url: URL, started: datetime) -> str:
    """Add the export's provenance document; return the id of its waveform entity."""
    from importlib import metadata

    import prov.model

    try:
        version = metadata.version("s2sframe")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree not installed
        version = "unknown"

    digest = hashlib.sha256(_db.mask_url(url).encode()).hexdigest()[:7]
    doc = prov.model.ProvDocument()
    doc.add_namespace("seis_prov", SEIS_PROV)
    agent = doc.agent(f"seis_prov:sp001_sa_{digest}", {
        "prov:type": prov.model.PROV["SoftwareAgent"], "prov:label": "s2sframe",
        "seis_prov:software_name": "s2sframe", "seis_prov:software_version": version})
    database = doc.entity(f"seis_prov:sp002_db_{digest}", {
        "prov:label": "stream2segment database", "seis_prov:url": _db.mask_url(url)})
    activity = doc.activity(f"seis_prov:sp003_ex_{digest}", started, datetime.now(UTC),
                            {"prov:label": "waveform export"})
    waveforms = doc.entity(f"seis_prov:sp004_wf_{digest}", {"prov:label": "Waveform Data"})
    doc.wasAssociatedWith(activity, agent)
    doc.used(activity, database)
    doc.wasGeneratedBy(waveforms, activity)
    ds.add_provenance_document(doc, name="s2sframe_export")
    return "{" + SEIS_PROV + "}" + f"sp004_wf_{digest}"
