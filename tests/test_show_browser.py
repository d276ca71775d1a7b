"""``s2s show`` in a real browser: headless Chromium (system package) driven by Playwright.

Under CI=true a missing browser or driver fails these tests (never skips).
``S2S_SCREENSHOTS=1`` also writes the screenshots of docs/show.md to docs/img/.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics

import polars as pl
import pytest
import sqlalchemy as sa

from s2sframe.show import show
from tests.conftest import IN_CI, ROOT
from tests.showkit import STYLED_PLOTS, build, plot_module, store_secrets

DOCS_IMG = ROOT / "docs" / "img"


def _chromium() -> str | None:
    path = os.environ.get("S2S_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.exists(path) else None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        msg = f"Playwright is not installed ({exc}): pip install playwright"
        if IN_CI:
            pytest.fail(msg + " (CI=true: browser tests must run)")
        pytest.skip(msg)
    if path is None:
        msg = "Chromium not found (apt-get install chromium)"
        if IN_CI:
            pytest.fail(msg + " (CI=true: browser tests must run)")
        pytest.skip(msg)
    with sync_playwright() as p:  # the system Chromium: Playwright downloads no browser
        b = p.chromium.launch(executable_path=path, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    return build("sqlite:///" + str(tmp_path_factory.mktemp("browser") / "show.sqlite"))


@pytest.fixture(scope="module")
def server(db, tmp_path_factory):
    srv = show(db, pyfile=plot_module(tmp_path_factory.mktemp("plots")),
               config={"reason": "shown in the plot area"}, open_browser=False,
               annotator="browser-test")
    yield srv
    srv.stop()


#: counts the page's POSTs as it makes them (before any answer): window.__posts
COUNT_POSTS = """
window.__posts = [];
const _fetch = window.fetch;
window.fetch = (url, opts) => {
  if (opts && opts.method === "POST") window.__posts.push(String(url));
  return _fetch(url, opts);
};
"""


@contextlib.contextmanager
def open_page(browser, url: str, ready: str = "body[data-plots-index='0']", **context):
    """A page of ``url`` (1400 x 860) once ``ready`` matches; fails on any page error."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, **context)
    pg = ctx.new_page()
    pg.add_init_script(COUNT_POSTS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_selector(ready, timeout=60_000)
    yield pg
    ctx.close()
    assert not errors, errors


@pytest.fixture
def page(browser, server):
    with open_page(browser, server.url) as pg:
        yield pg


def ink(png: bytes, box: dict) -> float:
    """Fraction of non-background pixels of a screenshot inside ``box``."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L").crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
         int(box["y"] + box["height"])))
    hist = img.histogram()
    return 1 - sum(hist[235:]) / max(sum(hist), 1)


def save(png: bytes, name: str) -> None:
    if os.environ.get("S2S_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        (DOCS_IMG / name).write_bytes(png)


def expect(locator):
    """Playwright's expect, waiting up to 60 s (a loaded machine pre-processes slowly)."""
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=60_000)
    return _expect(locator)


def goto(page, index: int) -> None:
    page.wait_for_selector(f"body[data-shown-index='{index}']", timeout=60_000)


def labelled(url: str, segment_id: int, class_id: int) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text(
                "select annotator from class_labellings where segment_id = :s and "
                "class_id = :c"), {"s": segment_id, "c": class_id})]
    finally:
        engine.dispose()


def test_page_draws_waveform_plots_and_metadata(page):
    png = page.screenshot()
    main = page.locator("#main-plot").bounding_box()
    assert ink(png, main) > 0.02  # a drawn waveform, not an empty frame
    assert page.locator("#main-plot canvas").count() == 1
    assert page.locator("#bottom-plot canvas").count() == 1  # cumulative
    assert page.locator("#right-plot canvas").count() == 1  # spectrum (log axes)
    assert ink(png, page.locator("#bottom-plot").bounding_box()) > 0.005  # a thin curve
    assert page.locator("#pos").inner_text() == "1"
    assert "event.magnitude" in page.locator("#metadata").inner_text()
    assert page.locator("#labels input[type=checkbox]").count() == 6
    assert page.evaluate("document.querySelector('#main-plot')._u.scales.x.time") is True
    assert page.locator("#desc").inner_text().startswith("M ")
    # the legend reads the time (UTC) and value at the cursor
    box = page.locator("#main-plot .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = page.locator("#main-plot .u-legend").inner_text()
    assert " UTC" in legend and "20" in legend


def test_keyboard_navigation(page):
    for i in range(1, 4):
        page.keyboard.press("ArrowRight")
        goto(page, i)
    page.keyboard.press("ArrowLeft")
    goto(page, 2)
    assert page.locator("#pos").inner_text() == "3"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # wraps around to the last segment
    count = int(page.locator("#count").inner_text())
    goto(page, count - 1)


def test_number_keys_toggle_labels_in_the_database(page, db):
    sid = page.evaluate("window.s2sState.segment.id")
    box = page.locator("#labels input[data-class-id='2']")
    was = box.is_checked()
    page.keyboard.press("2")
    expect(page.locator("#labels input[data-class-id='2']")).to_be_checked(checked=not was)
    rows = labelled(db, sid, 2)
    assert bool(rows) is (not was)
    if rows:
        assert rows[0].startswith("browser-test ")
    page.keyboard.press("2")
    expect(page.locator("#labels input[data-class-id='2']")).to_be_checked(checked=was)
    assert bool(labelled(db, sid, 2)) is was


def test_drag_zooms_with_samples_from_the_server(page):
    scale = "(() => { const u = document.querySelector('#main-plot')._u; " \
            "return [u.scales.x.min, u.scales.x.max, u.data[0].length]; })()"
    x0, x1, n0 = page.evaluate(scale)
    # nothing asked of the server for the plot as first drawn (it shows the whole segment)
    assert page.evaluate("document.querySelector('#main-plot').dataset.zoomedRange") is None
    box = page.locator("#main-plot .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    with page.expect_response(lambda r: "/api/zoom" in r.url) as resp:
        page.mouse.move(box["x"] + box["width"] * 0.40, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
        page.mouse.up()
    assert resp.value.ok
    z0, z1, _n = page.evaluate(scale)
    assert x0 < z0 < z1 < x1 and (z1 - z0) < 0.2 * (x1 - x0)
    # wait for the server's samples of exactly the range shown (not of an earlier one)
    page.wait_for_function("() => { const el = document.querySelector('#main-plot'); "
                           "const u = el._u; return el.dataset.zoomedRange === "
                           "`${u.scales.x.min},${u.scales.x.max}`; }", timeout=60_000)
    visible = page.evaluate("(() => { const u = document.querySelector('#main-plot')._u; "
                            "return u.data[0].filter(x => x >= u.scales.x.min && "
                            "x <= u.scales.x.max).length; })()")
    assert visible > 0.05 * n0  # every sample of the window, not 5% of the decimated ones
    page.dblclick("#main-plot .u-over")
    r0, r1, _n = page.evaluate(scale)
    assert r0 <= x0 + 1e-6 and r1 >= x1 - 1e-6


def test_plot_error_is_shown_and_page_keeps_working(page):
    page.click("#right-tabs button[data-plot='broken']")
    err = page.locator("#right-plot .plot-error")
    err.wait_for(timeout=60_000)
    assert err.inner_text() == "ValueError: broken on purpose: shown in the plot area"
    page.keyboard.press("ArrowRight")
    goto(page, 1)
    page.wait_for_selector("body[data-plots-index='1']")
    assert page.locator("#right-plot .plot-error").inner_text().startswith("ValueError")
    assert page.locator("#main-plot canvas").count() == 1


def test_components_and_preprocessed_view(page):
    page.check("#comp")
    expect(page.locator("#components canvas")).to_have_count(2)
    page.check("#pre")
    expect(page.locator("#main-plot .plot-title")).to_contain_text("pre-processed")
    png = page.screenshot()
    assert ink(png, page.locator("#components .plot").first.bounding_box()) > 0.02


def test_segment_switch_time(page):
    """Keypress -> server -> main plot painted, as seen by the page (printed, not asserted tight)."""
    page.evaluate("window.s2sState.timings = []")
    for i in range(1, 16):
        page.keyboard.press("ArrowRight")
        goto(page, i)
        page.wait_for_selector(f"body[data-plots-index='{i}']")
    timings = page.evaluate("window.s2sState.timings")
    total = [t["total_ms"] for t in timings]
    server = [t["server_ms"] for t in timings]
    print(f"\nsegment switch (27-segment db): median {statistics.median(total):.0f} ms "
          f"(server {statistics.median(server):.1f} ms), max {max(total):.0f} ms")
    assert len(timings) == 15
    assert statistics.median(total) < 1000  # generous: shared CI machine


def test_selection_dialog(page):
    page.click("#btn-select")
    page.fill("#selection", "station.network: NOPE")
    page.click("#do-select")
    expect(page.locator("#select-msg")).to_contain_text("0 segments")
    assert "No segment matches" in page.locator("#main-plot").inner_text()
    page.fill("#selection", "event.magnitud: 5")
    page.click("#do-select")
    expect(page.locator("#select-msg")).to_contain_text("event.magnitude")
    page.fill("#selection", "has_valid_data: true")
    page.click("#do-select")
    goto(page, 0)




def test_downloads_page(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("requestfailed", lambda r: errors.append(r.url))
    pg.goto(server.url + "downloads")
    pg.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert pg.locator(".run table").count() >= 1
    assert pg.locator(".run th[data-outcome='ok']").count() >= 1
    assert pg.locator("#map svg circle").count() == 3  # the stations, drawn offline
    pg.locator(".run details").first.click()
    expect(pg.locator(".run details pre").first).not_to_have_text("loading…")
    png = pg.screenshot()
    assert ink(png, pg.locator("#map").bounding_box()) > 0.02
    ctx.close()
    assert not errors, errors


# ------------------------------------------------------------------------ defects of issue 20
def select(page, text: str, expected: str) -> None:
    page.click("#btn-select")
    page.fill("#selection", text)
    page.click("#do-select")
    expect(page.locator("#select-msg")).to_contain_text(expected)
    page.click("#select-dialog .close")


def test_no_segment_no_label_and_no_stale_plots(page, db):
    """0 segments selected: a number key labels nothing, the old plots are gone."""
    select(page, "event.magnitude: >99", "0 segments")
    expect(page.locator("#main-plot")).to_contain_text("No segment matches")
    page.keyboard.press("1")
    posts = page.evaluate("window.__posts")
    assert "/api/label" not in posts  # no label request was even sent
    assert page.evaluate("window.s2sState.segment") is None
    for box in ("#main-plot", "#bottom-plot", "#right-plot", "#components"):
        expect(page.locator(f"{box} canvas")).to_have_count(0)
    expect(page.locator("#main-plot")).to_contain_text("No segment matches")
    assert all(page.locator("#labels input").evaluate_all("els => els.map(e => e.disabled)"))
    select(page, "has_valid_data: true", "segments selected")
    goto(page, 0)
    assert not page.locator("#labels input").first.is_disabled()


def test_server_refuses_labels_of_segments_not_selected(server, db):
    from tests.showkit import Client

    c = Client(server.url)
    c.page()
    status, r = c.post("selection", {"text": "event.magnitude: >99"})
    assert status == 200 and r["count"] == 0
    try:
        before = labelled(db, 1, 1)
        status, r = c.post("label", {"segment_id": 1, "class_id": 1, "value": not before})
        assert status == 400 and "not in the current selection" in r["error"]
        assert labelled(db, 1, 1) == before
    finally:
        c.post("selection", {"text": "has_valid_data: true"})


def fits(page, selector: str) -> dict:
    """Where a chart and its legend lie relative to their plot box (px)."""
    return page.evaluate(f"""(() => {{
      const el = document.querySelector("{selector}"), u = el._u;
      const box = el.getBoundingClientRect(), root = u.root.getBoundingClientRect();
      const legend = u.root.querySelector(".u-legend").getBoundingClientRect();
      return {{ box_bottom: box.bottom, root_bottom: root.bottom, legend_top: legend.top,
               legend_bottom: legend.bottom, legend_height: legend.height,
               canvas_bottom: u.over.getBoundingClientRect().bottom, view: innerHeight }};
    }})()""")


def test_main_plot_fits_its_box_with_other_components(page):
    """The main chart, its time axis and legend stay inside the box the components left it."""
    page.check("#comp")
    expect(page.locator("#components canvas")).to_have_count(2)
    for selector in ("#main-plot", "#components .plot"):
        f = fits(page, selector)
        assert f["root_bottom"] <= f["box_bottom"] + 1, f
        assert f["legend_height"] > 5 and f["legend_bottom"] <= f["box_bottom"] + 1, f
        assert f["legend_bottom"] <= f["view"], f
    titles = page.locator("#components .plot-title").all_inner_texts()
    seed = page.evaluate("window.s2sState.segment.seed_id")
    assert len(titles) == 2 and all(t[:-1] == seed[:-1] and t != seed for t in titles)
    page.uncheck("#comp")
    expect(page.locator("#components canvas")).to_have_count(0)


def test_component_errors_are_titled_by_channel(browser, db):
    """A sibling without data: its error box names its channel, not 'component'."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            sid, bad = conn.execute(sa.text(
                "select s.id, o.id from segments s join channels c on c.id = s.channel_id "
                "join segments o on o.event_id = s.event_id join channels oc on "
                "oc.id = o.channel_id and oc.station_id = c.station_id and o.id != s.id "
                "where s.data is not null and o.data is null order by s.id limit 1")).first()
    finally:
        engine.dispose()
    srv = show(db, open_browser=False, config={"segments_selection": {"id": str(sid)}})
    try:
        with open_page(browser, srv.url) as pg:
            pg.check("#comp")
            err = pg.locator("#components .plot-error")
            err.first.wait_for(timeout=60_000)
            bad_seed = srv.viewer.lf.filter(pl.col("id") == bad).select("seed_id").collect()
            titles = pg.locator("#components .plot-title").all_inner_texts()
            assert bad_seed.item() in titles and "component" not in titles
    finally:
        srv.stop()


def test_no_other_components_says_why(browser, tmp_path):
    from s2sframe.testing import make_database

    url = "sqlite:///" + str(tmp_path / "one.sqlite")
    make_database(url, events=1, stations=2, channels_per_station=1, seed=1)
    srv = show(url, open_browser=False)
    try:
        with open_page(browser, srv.url) as pg:
            pg.check("#comp")
            expect(pg.locator("#components .note")).to_contain_text("No other components")
            assert pg.locator("#components canvas").count() == 0
    finally:
        srv.stop()


def test_readonly_page_has_no_add_class_form(browser, db):
    srv = show(db, open_browser=False, readonly=True)
    try:
        with open_page(browser, srv.url) as pg:
            expect(pg.locator("#ro-badge")).to_be_visible()
            expect(pg.locator("#add-class")).to_be_hidden()
            assert pg.locator("#labels .del").count() == 0
            assert all(pg.locator("#labels input").evaluate_all("e => e.map(x => x.disabled)"))
            pg.keyboard.press("1")
            assert "/api/label" not in pg.evaluate("window.__posts")
    finally:
        srv.stop()


# ------------------------------------------------------------------------ downloads page
@pytest.fixture(scope="module")
def dl_server(tmp_path_factory):
    """Stations clustered around Pisa (labels would overlap, the coast is in view) and the
    secrets stream2segment stores in the download config."""
    url = build("sqlite:///" + str(tmp_path_factory.mktemp("dl") / "dl.sqlite"))
    store_secrets(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("update stations set latitude = 43.70 + 0.02 * id, "
                             "longitude = 10.40 + 0.01 * id, station = 'STA' || id"))
    engine.dispose()
    srv = show(url, open_browser=False)
    yield srv
    srv.stop()


def test_downloads_page_never_shows_secrets(browser, dl_server):
    with open_page(browser, dl_server.url + "downloads", "body[data-ready='1']") as pg:
        for det in pg.locator(".run details").all():
            det.click()
        expect(pg.locator(".run details pre").first).not_to_have_text("loading…")
        expect(pg.locator(".run details pre").last).not_to_have_text("loading…")
        text = pg.locator("body").inner_text()
        assert "alice:***@host" in text and "INFO: done" in text
        assert "S3cretPW" not in pg.content()


def test_downloads_map_and_table_read_at_1400px(browser, dl_server):
    with open_page(browser, dl_server.url + "downloads", "body[data-ready='1']") as pg:
        # the outcome table fits: no horizontal scrolling
        widths = pg.locator(".run").evaluate_all("e => e.map(x => [x.scrollWidth, x.clientWidth])")
        assert widths and all(sw <= cw + 1 for sw, cw in widths), widths
        # land outlines, served by the app (no network)
        assert pg.locator("#map svg path.land").count() == 1
        assert len(pg.locator("#map svg path.land").get_attribute("d")) > 100
        # station labels never overlap each other nor a station dot
        boxes = pg.locator("#map svg .station-label").evaluate_all(
            "e => e.map(x => { const b = x.getBoundingClientRect(); "
            "return [b.left, b.top, b.right, b.bottom]; })")
        dots = pg.locator("#map svg circle").evaluate_all(
            "e => e.map(x => { const b = x.getBoundingClientRect(); "
            "return [b.left, b.top, b.right, b.bottom]; })")
        assert boxes and len(dots) == 3
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:] + dots:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
        png = pg.screenshot()
        assert ink(png, pg.locator("#map").bounding_box()) > 0.01


# ------------------------------------------------------------------------ plots
@pytest.fixture(scope="module")
def styled(db, tmp_path_factory):
    module = tmp_path_factory.mktemp("styled") / "styled.py"
    module.write_text(STYLED_PLOTS)
    srv = show(db, pyfile=module, open_browser=False)
    yield srv
    srv.stop()


def uplot(page, selector: str, expr: str):
    return page.evaluate(f"(() => {{ const u = document.querySelector('{selector}')._u; "
                         f"return {expr}; }})()")


def legend_rows(page, selector: str) -> list[str]:
    """The legend entries shown (without hovering: no mouse has moved)."""
    return page.locator(f"{selector} .u-legend .u-series").evaluate_all(
        "rows => rows.slice(1).filter(r => getComputedStyle(r).display !== 'none' && "
        "r.getBoundingClientRect().height > 0).map(r => r.querySelector('.u-label').textContent)")


def test_plotly_styles_of_a_stream2segment_plot(browser, styled):
    """sn_windows of stream2segment's template: one grey 'segment remainder' in three parts."""
    with open_page(browser, styled.url) as pg:  # sn_windows: the first right plot, drawn
        assert pg.locator("#right-tabs button.on").inner_text() == "sn_windows"
        assert legend_rows(pg, "#right-plot") == ["Signal", "Noise", "segment remainder"]
        strokes = uplot(pg, "#right-plot", "u.series.slice(1).map((s, i) => s.stroke(u, i + 1))")
        assert strokes[2:] == ["rgba(100,100,100,1)"] * (len(strokes) - 2)  # 2 or 3 parts
        assert len(strokes) >= 4 and len(set(strokes[:2])) == 2
        assert "rgba(100,100,100,1)" not in strokes[:2]
        f = fits(pg, "#right-plot")  # the legend stays inside the plot box
        assert f["legend_bottom"] <= f["box_bottom"] + 1 and f["root_bottom"] <= f["box_bottom"] + 1
        # markers, dash, width, colour, fill, axis titles and range
        series = uplot(pg, "#bottom-plot", "u.series.slice(1).map((s, i) => ({show: typeof s.points.show === 'function' ? "
                                           "s.points.show(u, i + 1) : s.points.show, "
                                           "dash: s.dash, width: s.width, fill: !!s.fill, "
                                           "stroke: s.stroke(u, i + 1)}))")
        assert series[0]["show"] and series[1]["dash"] == [6, 4] and series[1]["width"] == 3
        assert series[1]["stroke"] == "green" and series[2]["fill"] and series[2]["show"]
        assert not series[1]["show"]
        assert uplot(pg, "#bottom-plot", "[u.scales.y.min, u.scales.y.max]") == [-2, 2]
        assert uplot(pg, "#bottom-plot", "u.axes.map(a => a.label)") == ["sample", "value"]
        assert legend_rows(pg, "#bottom-plot") == ["markers", "dashed", "filled"]


def test_log_axes_tick_labels(browser, styled):
    """Decades only (no bands of minor grid lines), one format per axis."""
    with open_page(browser, styled.url) as pg:
        pg.click("#right-tabs button[data-plot='spectra']")
        pg.wait_for_function("() => { const el = document.querySelector('#right-plot'); "
                             "return el._u && el._u.axes[0].label === 'frequency (Hz)'; }")
        xs = uplot(pg, "#right-plot", "u.axes[0]._values")
        ys = uplot(pg, "#right-plot", "u.axes[1]._values")
        assert xs == ["0.01", "0.1", "1", "10", "100"][:len(xs)] and len(xs) >= 4
        sup = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
        exps = [int(v[2:].translate(sup)) for v in ys]  # every label 10ⁿ, consecutive n
        assert all(v.startswith("10") for v in ys) and exps == list(range(exps[0], exps[0] + len(ys)))
        assert exps[0] <= -9 and exps[-1] >= -4
        assert len(uplot(pg, "#right-plot", "u.axes[1]._splits")) == len(ys)  # grid = ticks
        assert uplot(pg, "#right-plot", "u.axes[1].label") == "amplitude (m/s)"
        assert legend_rows(pg, "#right-plot") == ["Signal", "Noise"]
        # the formats, on ticks of every kind
        labels = "(s, log, f) => S2SPlots.labels(s, log, f)"
        cases = [([-2e-6, -1e-6, 0, 1e-6, 2e-6], False, None, ["-2µ", "-1µ", "0", "1µ", "2µ"]),
                 ([0, 0.25, 0.5, 0.75], False, None, ["0.00", "0.25", "0.50", "0.75"]),
                 ([0, 50000, 100000, 150000], False, None, ["0", "50k", "100k", "150k"]),
                 ([1e-3, 1e-2, 0.1, 1, 10], True, None, ["0.001", "0.01", "0.1", "1", "10"]),
                 ([1e-4, 1e-2, 1], True, "SI", ["100µ", "10m", "1"]),
                 ([0.02, 0.05, 0.1], True, "power", ["2×10⁻²", "5×10⁻²", "10⁻¹"]),
                 ([1, 2.5], False, "e", ["1.0e+0", "2.5e+0"])]
        for splits, log, fmt, expected in cases:
            assert pg.evaluate(f"({labels})({splits}, {str(log).lower()}, "
                               f"{'null' if fmt is None else repr(fmt)})") == expected
        assert pg.evaluate("S2SPlots.logSplits(0.001, 100)") == [0.001, 0.01, 0.1, 1, 10, 100]
        assert pg.evaluate("S2SPlots.logSplits(1, 50)") == [1, 2, 5, 10, 20, 50]


def test_main_legend_names_without_hovering(page):
    rows = legend_rows(page, "#main-plot")
    assert rows == [page.evaluate("window.s2sState.segment.seed_id")]
    f = fits(page, "#main-plot")
    assert f["legend_top"] >= f["canvas_bottom"] - 1 and f["legend_bottom"] <= f["box_bottom"] + 1


def test_y_zoom_pan_and_reset(page):
    scales = "[u.scales.x.min, u.scales.x.max, u.scales.y.min, u.scales.y.max]"
    x0, x1, y0, y1 = uplot(page, "#main-plot", scales)
    box = page.locator("#main-plot .u-over").bounding_box()
    cx = box["x"] + box["width"] / 2
    page.mouse.move(cx, box["y"] + box["height"] * 0.3)  # a vertical drag: y zoom only
    page.mouse.down()
    page.mouse.move(cx + 2, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    a0, a1, b0, b1 = uplot(page, "#main-plot", scales)
    assert (a0, a1) == (x0, x1) and y0 < b0 < b1 < y1 and (b1 - b0) < 0.5 * (y1 - y0)
    page.keyboard.down("Shift")  # Shift+drag: pan, the ranges keep their width
    page.mouse.move(cx, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(cx - box["width"] * 0.25, box["y"] + box["height"] / 2 + 20, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    c0, c1, d0, d1 = uplot(page, "#main-plot", scales)
    assert c0 > a0 and c1 - c0 == pytest.approx(a1 - a0, rel=1e-6)
    assert d1 - d0 == pytest.approx(b1 - b0, rel=1e-6) and d0 > b0
    assert page.evaluate("document.querySelector('#main-plot').dataset.panned") == "1"
    page.dblclick("#main-plot .u-over")
    r0, r1, s0, s1 = uplot(page, "#main-plot", scales)
    assert (r0, r1) == (x0, x1) and (s0, s1) == (y0, y1)


def test_png_export(page, tmp_path):
    from PIL import Image

    with page.expect_download() as info:
        page.click("#right-plot .plot-tools .png")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "spectrum.png"
    img = Image.open(path)
    box = page.locator("#right-plot .u-over").bounding_box()
    assert img.format == "PNG" and img.width >= box["width"]
    assert ink(path.read_bytes(), {"x": 0, "y": 0, "width": img.width, "height": img.height}) > 0.01


# ------------------------------------------------------------------------ docs/show.md
def test_example_database_with_the_init_viewer_module(browser, tmp_path):
    """The page of docs/show.md: the example database and the viewer module of ``s2s init``
    (``S2S_SCREENSHOTS=1`` writes the screenshots of docs/show.md)."""
    from importlib import resources

    from s2sframe.testing import example_database

    url = example_database(tmp_path / "example.sqlite")
    templates = resources.files("s2sframe.templates")
    module = tmp_path / "gui.py"
    module.write_text(templates.joinpath("gui.py").read_text())
    config = tmp_path / "gui.yaml"
    config.write_text(templates.joinpath("gui.yaml").read_text())
    srv = show(url, pyfile=module, config=config, open_browser=False)
    try:
        with open_page(browser, srv.url) as pg:
            expect(pg.locator("#right-plot .u-legend")).to_contain_text("Signal (SNR")
            png = pg.screenshot()
            save(png, "show-main.png")
            for box in ("#main-plot", "#bottom-plot", "#right-plot"):
                assert ink(png, pg.locator(box).bounding_box()) > 0.01, box
            pg.check("#comp")
            pg.locator("#components canvas").first.wait_for(timeout=60_000)
            pg.check("#pre")
            expect(pg.locator("#main-plot .plot-title")).to_contain_text("pre-processed")
            pg.wait_for_selector("body[data-plots-index='0']")
            expect(pg.locator("#right-plot .plot-busy")).to_have_count(0)
            png = pg.screenshot()
            save(png, "show-components.png")
            assert ink(png, pg.locator("#components .plot").first.bounding_box()) > 0.01
            for box in ("#main-plot", "#bottom-plot", "#right-plot"):
                assert pg.locator(f"{box} .plot-error").count() == 0, box
            pg.uncheck("#comp")
            pg.click("#btn-config")  # a wrong parameter: the plot says so, the page goes on
            text = pg.locator("#config").input_value()
            assert "smoothing_wlen_ratio: 0.05" in text
            pg.fill("#config", text.replace("smoothing_wlen_ratio: 0.05",
                                            "smoothing_wlen_ratio: some"))
            pg.click("#do-config")
            err = pg.locator("#right-plot .plot-error")
            err.wait_for(timeout=60_000)
            pg.click("#config-dialog .close")
            save(pg.screenshot(), "show-plot-error.png")
            assert "TypeError" in err.inner_text() and "'str'" in err.inner_text()
        with open_page(browser, srv.url + "downloads", "body[data-ready='1']") as pg:
            pg.locator(".run details").first.click()
            expect(pg.locator(".run details pre").first).not_to_have_text("loading…")
            png = pg.screenshot()
            save(png, "show-downloads.png")
            assert pg.locator("#map svg path.land").count() == 1
            assert ink(png, pg.locator("#map").bounding_box()) > 0.02
    finally:
        srv.stop()
