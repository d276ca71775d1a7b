"""segment.seed_id is the registry's seed_id (data_seed_id, else NET.STA.LOC.CHA), whichever
columns the frame has: the same value as the scanned column and as SQL."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

import s2sframe
from s2sframe.db import schema as S
from s2sframe.testing import make_database


def test_seed_id_of_segments_equals_the_scanned_column(tmp_path):
    url = "sqlite:///" + str(tmp_path / "db.sqlite")
    make_database(url, events=1, stations=2, channels_per_station=2)
    eng = sa.create_engine(url)
    with eng.begin() as conn:  # an empty data_seed_id: coalesce keeps it, as SQL does
        conn.execute(S.segments.update().where(S.segments.c.id == 1).values(data_seed_id=""))
        conn.execute(S.segments.update().where(S.segments.c.id == 2).values(data_seed_id=None))
    eng.dispose()
    cols = ["id", "data_seed_id", "station.network", "station.station", "channel.location",
            "channel.channel"]
    df = s2sframe.scan(url).select(*cols, "seed_id").collect()
    expected = dict(zip(df["id"], df["seed_id"], strict=True))
    assert expected[1] == "" and expected[2].count(".") == 3
    for frame in (df.select(cols), df.select("id")):  # from the columns / fetched
        got = {s.id: s.seed_id for s in frame.s2s.segments(dburl=url)}
        assert got == expected
    assert pl.Series(list(expected.values())).null_count() == 0
