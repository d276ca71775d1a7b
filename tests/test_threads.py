"""Thread safety of what a notebook or a web app may call from several threads at once."""

from __future__ import annotations

import threading

import polars as pl

import s2sframe


def test_explain_while_another_thread_collects(small_url):
    """explain() never changes what a concurrent collect of the same frame returns."""
    lf = s2sframe.scan(small_url)
    expected = lf.select("id", "event.magnitude").collect()
    assert expected.height > 0
    rounds = 25
    start = threading.Barrier(2)
    heights: list[int] = []
    sqls: list[str] = []
    errors: list[BaseException] = []

    def collect() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                heights.append(lf.select("id", "event.magnitude").collect().height)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def explain() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                sqls.append(s2sframe.explain(lf.filter(pl.col("id") > 1).select("id")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=collect), threading.Thread(target=explain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert heights == [expected.height] * rounds
    assert len(sqls) == rounds and all("segments.id > 1" in s for s in sqls)


def test_two_threads_explain_their_own_frames(small_url):
    lf = s2sframe.scan(small_url)
    a = lf.filter(pl.col("id") > 2).select("id")
    b = lf.filter(pl.col("event.magnitude") < 100).select("id")
    out: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def run(key: str, frame: pl.LazyFrame) -> None:
        start.wait()
        for _ in range(20):
            out[key].append(s2sframe.explain(frame))

    threads = [threading.Thread(target=run, args=x) for x in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out["a"]) == len(out["b"]) == 20
    assert all("segments.id > 2" in s and "magnitude" not in s for s in out["a"])
    assert all("events.magnitude < 100" in s for s in out["b"])
