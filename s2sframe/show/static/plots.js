// Plots of s2s show: uPlot charts (vendored, MIT) with UTC time axes, markers, gaps,
// the Plotly-style styles of plot functions (see docs/show.md), tick labels in one format
// per axis, legends sized into the plot box, drag to zoom x (refined by the server when the
// data were decimated) or y (a vertical drag), Shift+drag to pan, double click to reset,
// PNG export.
"use strict";

const S2SPlots = (() => {
  const COLORS = ["#1f5f8b", "#c0392b", "#27864a", "#8e44ad", "#d68910", "#16a085", "#555"];
  const groups = {};  // x-zoom shared by the waveform and the other components

  // ------------------------------------------------------------ tick labels
  const SUPER = { "-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵",
                  "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹" };
  const PREFIX = { "-15": "f", "-12": "p", "-9": "n", "-6": "µ", "-3": "m", "0": "",
                   "3": "k", "6": "M", "9": "G", "12": "T" };
  const power = e => "10" + String(e).split("").map(c => SUPER[c]).join("");

  function decimals(values) {  // fewest decimals showing every value exactly (<= 10)
    let d = 0;
    for (const v of values) {
      while (d < 10 && Math.abs(Number(v.toFixed(d)) - v) > 1e-9 * Math.max(Math.abs(v), 1e-300)) d++;
    }
    return d;
  }

  // formatter(splits) -> labels, all in one format: plain decimals when every tick lies in
  // [0.001, 100000), else 10ⁿ (log axes) or SI prefixes (linear axes); Plotly's
  // exponentformat ('none', 'e', 'E', 'power', 'SI', 'B') of the axis chooses instead.
  function labels(splits, log, format) {
    const vals = splits.filter(v => v != null && isFinite(v));
    const nonzero = vals.filter(v => v !== 0).map(Math.abs);
    if (!nonzero.length) return splits.map(v => (v == null ? "" : "0"));
    const lo = Math.min(...nonzero), hi = Math.max(...nonzero);
    let mode = format;
    if (!["none", "e", "E", "power", "SI", "B"].includes(mode))
      mode = hi < 1e5 && (log ? lo >= 1e-3 : hi >= 1e-3) ? "none" : log ? "power" : "SI";
    if (mode === "none") {  // linear: the same decimals on every tick; log: as few as each needs
      const d = decimals(vals);
      return splits.map(v => (v == null ? "" : v.toFixed(log ? decimals([v]) : d)));
    }
    if (mode === "e" || mode === "E") {
      const d = decimals(vals.map(v => (v === 0 ? 0 : v / 10 ** Math.floor(Math.log10(Math.abs(v))))));
      return splits.map(v => (v == null ? "" : v === 0 ? "0" : mode === "E" ?
        v.toExponential(d).toUpperCase() : v.toExponential(d)));
    }
    const exp3 = v => Math.max(-15, Math.min(12, 3 * Math.floor(Math.log10(Math.abs(v)) / 3 + 1e-9)));
    if (mode === "power") {
      return splits.map(v => {
        if (v == null) return ""; if (v === 0) return "0";
        const e = Math.floor(Math.log10(Math.abs(v)) + 1e-9), m = v / 10 ** e;
        const mant = Number(m.toPrecision(6));
        return mant === 1 ? power(e) : mant === -1 ? "-" + power(e) : `${mant}×${power(e)}`;
      });
    }
    // SI / B: linear axes share the prefix of the largest tick; log axes: each tick its own
    const e = exp3(hi);
    const scaled = v => (log ? v / 10 ** exp3(v) : v / 10 ** e);
    const d = decimals(vals.map(scaled));
    return splits.map(v => {
      if (v == null) return ""; if (v === 0) return "0";
      const p = PREFIX[String(log ? exp3(v) : e)];
      return scaled(v).toFixed(d) + (mode === "B" && p === "G" ? "B" : p);
    });
  }

  function logSplits(min, max) {  // decades (with 2 and 5 under two decades, 1..9 under one)
    if (!(min > 0) || !(max > min)) return [];
    const span = Math.log10(max / min);
    const mult = span >= 2 ? [1] : span >= 0.8 ? [1, 2, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const e0 = Math.floor(Math.log10(min)), e1 = Math.ceil(Math.log10(max));
    const every = Math.max(1, Math.ceil((e1 - e0) / 10));
    const out = [];
    for (let e = e0; e <= e1; e++) {
      if ((e - e0) % every) continue;
      for (const m of mult) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  }

  const pad = n => String(n).padStart(2, "0");
  function fmtTimes(u, splits) {  // UTC, 24 h; the date under the first tick and at midnight
    const span = (u.scales.x.max - u.scales.x.min) || 1;
    let lastDay = null;
    return splits.map(v => {
      if (v == null) return "";
      const d = new Date(v * 1e3);
      let t = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      if (span < 3 * 86400) t += `:${pad(d.getUTCSeconds())}`;
      if (span < 10) t += "." + String(d.getUTCMilliseconds()).padStart(3, "0");
      const day = d.toISOString().slice(0, 10);
      if (day !== lastDay) { t += "\n" + day; lastDay = day; }
      return t;
    });
  }

  function fmtValue(v) {  // legend values at the cursor
    if (v == null) return "";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
    return String(Number(v.toPrecision(5)));
  }

  // ------------------------------------------------------------ styles
  const probe = document.createElement("canvas").getContext("2d");
  function rgba(color, alpha) {  // any CSS colour with its alpha multiplied by `alpha`
    probe.fillStyle = "#000"; probe.fillStyle = color;
    const c = probe.fillStyle;
    if (c.startsWith("#")) {
      const n = parseInt(c.slice(1), 16);
      return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
    }
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return c;
    const p = m[1].split(",").map(s => s.trim());
    return `rgba(${p[0]},${p[1]},${p[2]},${(p[3] === undefined ? 1 : Number(p[3])) * alpha})`;
  }
  const DASHES = { solid: null, dot: [2, 3], dash: [6, 4], longdash: [12, 4],
                   dashdot: [6, 3, 2, 3], longdashdot: [12, 3, 2, 3] };
  function dash(value) {
    if (value == null || value === "") return null;
    if (value in DASHES) return DASHES[value];
    const px = String(value).split(/[ ,]+/).map(parseFloat).filter(v => v >= 0);
    return px.length ? px : null;
  }

  // uPlot series options of the plot's series: colour by legend group, one legend entry each
  function seriesOptions(plot) {
    const colorOf = {}, seen = new Set();
    let next = 0;
    return plot.series.map((s, i) => {
      const st = s.style || {};
      const group = st.legendgroup || s.name;
      const base = st.color || colorOf[group] || COLORS[next++ % COLORS.length];
      colorOf[group] = colorOf[group] || base;
      const color = st.opacity != null ? rgba(base, st.opacity) : base;
      const mode = st.mode || "lines";
      const o = {
        label: s.name, stroke: color, width: st.width != null ? st.width : 1,
        spanGaps: false, value: (u, v) => fmtValue(v),
        points: { show: false },
        show: st.visible !== false && st.visible !== "legendonly",
        _legend: st.showlegend !== false && st.visible !== false && !seen.has(group),
        _group: group,
      };
      seen.add(group);
      const d = dash(st.dash);
      if (d) o.dash = d;
      if (!mode.includes("lines")) o.paths = () => null;
      if (mode.includes("markers")) {
        const mc = st.marker_color || color;
        o.points = { show: true, size: st.marker_size || 5, fill: mc, stroke: mc, width: 1 };
      }
      if (st.type === "bar" && uPlot.paths && uPlot.paths.bars) {
        o.paths = uPlot.paths.bars({ size: [0.7, 60] });
        o.fill = rgba(color, 0.75); o.points = { show: false };
      } else if (st.fill === "tozeroy") {
        o.fill = st.fillcolor || rgba(color, 0.3); o.fillTo = 0;
      }
      o._tonexty = st.fill === "tonexty" && i > 0 ? (st.fillcolor || rgba(color, 0.3)) : null;
      return o;
    });
  }

  // ------------------------------------------------------------ drawing
  const observer = new ResizeObserver(entries => requestAnimationFrame(() => {
    for (const e of entries) fit(e.target);
  }));

  function fit(el) {  // the chart and its legend inside the plot box
    const u = el._u;
    if (!u || !el.isConnected) return;
    const legend = u.root.querySelector(".u-legend");
    const width = Math.max(el.clientWidth - 2, 150);
    const height = Math.max(el.clientHeight - (legend ? legend.offsetHeight : 0) - 4, 60);
    if (Math.abs(width - u.width) > 1 || Math.abs(height - u.height) > 1) u.setSize({ width, height });
  }

  function clear(el) {
    if (el._u) { el._u.destroy(); el._u = null; }
    observer.unobserve(el);
    delete el.dataset.zoomed; delete el.dataset.zoomedRange;
    el.replaceChildren();
  }

  function titled(el, title) {
    const t = document.createElement("div");
    t.className = "plot-title"; t.textContent = title || "";
    el.append(t);
  }

  function showText(el, title, message, cls) {  // a message instead of a chart
    clear(el);
    titled(el, title);
    const e = document.createElement("div");
    e.className = cls; e.textContent = message;
    el.append(e);
  }
  const showError = (el, title, message) => showText(el, title, message, "plot-error");
  const showNote = (el, title, message) => showText(el, title, message, "plot-note");

  function toData(plot) {
    const tables = plot.series.map(s => [s.x, s.y]);
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);  // x values of other series: undefined (spanned), nulls kept
  }

  function markersHook(plot) {
    return u => {
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      const rect = (a, b, color) => {
        const x0 = u.valToPos(a, "x", true), x1 = u.valToPos(b, "x", true);
        ctx.fillStyle = color;
        ctx.fillRect(x0, top, Math.max(x1 - x0, 2), h);
      };
      (plot.gaps || []).forEach(([a, b]) => rect(a, b, "rgba(192,57,43,0.18)"));
      (plot.overlaps || []).forEach(([a, b]) => rect(a, b, "rgba(214,137,16,0.18)"));
      ctx.font = `${10 * devicePixelRatio}px sans-serif`;
      ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";  // (uPlot's axes leave theirs)
      for (const m of plot.markers || []) {
        if (m.x == null) continue;
        const x = u.valToPos(m.x, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        ctx.strokeStyle = m.kind === "arrival" ? "#008b8b" : "#888";
        ctx.lineWidth = (m.kind === "arrival" ? 2 : 1) * devicePixelRatio;
        ctx.setLineDash(m.kind === "arrival" ? [6, 4] : [2, 3]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        const w = ctx.measureText(m.label).width, gap = 3 * devicePixelRatio;
        const right = x + gap + w <= u.bbox.left + u.bbox.width;  // else left of the line
        ctx.fillText(m.label, right ? x + gap : x - gap - w, top + 12 * devicePixelRatio);
      }
      if ((plot.gaps || []).length) {
        ctx.fillStyle = "#c0392b";
        ctx.fillText(`${plot.gaps.length} gap(s)`, u.bbox.left + u.bbox.width - 60 * devicePixelRatio,
                     top + 12 * devicePixelRatio);
      }
      ctx.restore();
    };
  }

  function axisTitle(axis) {
    const t = (axis || {}).title;
    return t == null ? undefined : typeof t === "object" ? t.text : String(t);
  }

  function axisRange(axis, log) {  // Plotly's range ([a, b]; log axes: log10 units)
    const r = (axis || {}).range;
    if (!Array.isArray(r) || r.length !== 2 || r.some(v => typeof v !== "number")) return null;
    return log ? [10 ** r[0], 10 ** r[1]] : [r[0], r[1]];
  }

  function exportPng(el, title) {  // the chart, its title and legend on a white PNG
    const u = el._u;
    if (!u) return;
    const src = u.ctx.canvas, k = devicePixelRatio;
    const names = u.series.map((s, i) => [s, i]).filter(([s, i]) => i > 0 && s._legend && s.show)
      .map(([s, i]) => [s.label, typeof s.stroke === "function" ? s.stroke(u, i) : s.stroke]);
    const out = document.createElement("canvas");
    const head = 22 * k, legendH = names.length ? 20 * k : 0;
    out.width = src.width; out.height = src.height + head + legendH;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#222"; ctx.font = `${13 * k}px sans-serif`;
    ctx.fillText(title || "", 8 * k, 16 * k);
    ctx.drawImage(src, 0, head);
    let x = 8 * k;
    ctx.font = `${11 * k}px sans-serif`;
    for (const [name, color] of names) {
      ctx.fillStyle = color;
      ctx.fillRect(x, head + src.height + 6 * k, 14 * k, 3 * k);
      ctx.fillStyle = "#222";
      ctx.fillText(name, x + 18 * k, head + src.height + 12 * k);
      x += (26 + 7 * name.length) * k;
    }
    out.toBlob(blob => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = (title || "plot").replace(/[^\w.-]+/g, "_") + ".png";
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }, "image/png");
  }

  // draw(el, plot, {title, xaxis, yaxis, group, zoom(key, x0, x1, width) -> Promise<plot>})
  function draw(el, plot, opts = {}) {
    if (plot.error) { showError(el, opts.title, plot.error); return; }
    if (!plot.series || !plot.series.length || !plot.series.some(s => s.x.length)) {
      showError(el, opts.title, "nothing to plot"); return;
    }
    clear(el);
    const xa = opts.xaxis || {}, ya = opts.yaxis || {};
    const xlog = xa.type === "log", ylog = ya.type === "log";
    let data = toData(plot);
    if (xlog) {  // a log axis has no room for x <= 0 (e.g. the 0 Hz bin of a spectrum)
      const keep = data[0].map(v => v > 0);
      data = data.map(col => col.filter((_, i) => keep[i]));
    }
    if (ylog) data = data.map((col, i) => i === 0 ? col : col.map(v => (v != null && v <= 0) ? null : v));
    const full = data;
    let lastRange = null, resetting = false;
    const fmtX = plot.time ? (u, v) => (v == null ? "" : new Date(v * 1e3).toISOString()
      .replace("T", " ").replace("Z", " UTC")) : (u, v) => fmtValue(v);
    const styled = seriesOptions(plot);
    const bands = styled.map((s, i) => s._tonexty ? { series: [i + 1, i], fill: s._tonexty } : null)
      .filter(Boolean);
    const axis = (a, log, time) => ({
      stroke: "#555", font: "11px sans-serif", labelFont: "11px sans-serif", labelSize: 16,
      grid: { stroke: "#eee", show: a.showgrid !== false }, ticks: { stroke: "#ccc" },
      label: axisTitle(a),
      ...(log ? { splits: (u, i, min, max) => logSplits(min, max), filter: (u, s) => s } : {}),
      values: time ? fmtTimes : a.showticklabels === false ? (u, s) => s.map(() => "")
        : (u, splits) => labels(splits, log, a.exponentformat),
    });
    const xAxis = axis(xa, xlog, plot.time), yAxis = axis(ya, ylog, false);
    xAxis.size = plot.time ? 44 : 32;
    if (plot.time) xAxis.label = xAxis.label || "UTC";
    yAxis.size = (u, values) => {  // wide enough for the longest label
      const n = Math.max(3, ...(values || []).map(v => String(v).length));
      return 14 + 6.5 * n;
    };
    const o = {
      width: Math.max(el.clientWidth - 2, 150), height: Math.max(el.clientHeight - 30, 60),
      series: [{ value: fmtX, label: plot.time ? "time" : (axisTitle(xa) || "x") }, ...styled],
      bands, legend: { show: true, live: true },
      scales: {
        x: { time: !!plot.time, distr: xlog ? 3 : 1, log: 10, dir: xa.autorange === "reversed" ? -1 : 1 },
        y: { distr: ylog ? 3 : 1, log: 10, dir: ya.autorange === "reversed" ? -1 : 1 },
      },
      axes: [xAxis, yAxis],
      cursor: {
        drag: { x: true, y: true, uni: 30, setScale: true }, points: { show: false },
        bind: {
          dblclick: u => () => { reset(u); return null; },
          mousedown: (u, targ, handler) => e => (e.shiftKey ? (pan(u, e), null) : handler(e)),
        },
      },
      hooks: {
        draw: [markersHook(plot)],
        setScale: [(u, key) => { if (key === "x") onZoom(u); }],
      },
    };
    if (plot.time) o.tzDate = ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
    const u = new uPlot(o, data, el);
    el._u = u;
    // one legend entry per legend group; hidden entries for showlegend: false
    u.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => {
      if (i > 0 && !styled[i - 1]._legend) row.style.display = "none";
    });
    titled(el, opts.title);
    const tools = document.createElement("div");
    tools.className = "plot-tools";
    const png = document.createElement("button");
    png.type = "button"; png.className = "png"; png.textContent = "PNG";
    png.title = "save this plot as a PNG image";
    png.addEventListener("click", () => exportPng(el, opts.title));
    tools.append(png);
    el.append(tools);
    const home = { x: axisRange(xa, xlog), y: axisRange(ya, ylog) };
    if (home.x) u.setScale("x", { min: home.x[0], max: home.x[1] });
    if (home.y) u.setScale("y", { min: home.y[0], max: home.y[1] });
    fit(el);
    observer.observe(el);

    function pan(u2, e0) {  // Shift+drag: move the view with the mouse, x and y
      const x0 = u2.posToVal(e0.offsetX, "x"), y0 = u2.posToVal(e0.offsetY, "y");
      const sx = [u2.scales.x.min, u2.scales.x.max], sy = [u2.scales.y.min, u2.scales.y.max];
      const over = u2.over, rect = over.getBoundingClientRect();
      const move = e => {
        const px = e.clientX - rect.left, py = e.clientY - rect.top;
        const shift = (s, from, to, log) => (log ? s.map(v => v * from / to) : s.map(v => v + from - to));
        u2.batch(() => {
          u2.setScale("x", Object.fromEntries([["min", 0], ["max", 0]].map(([k], i) =>
            [k, shift(sx, x0, u2.posToVal(px, "x"), xlog)[i]])));
          u2.setScale("y", Object.fromEntries([["min", 0], ["max", 0]].map(([k], i) =>
            [k, shift(sy, y0, u2.posToVal(py, "y"), ylog)[i]])));
        });
      };
      const up = () => { document.removeEventListener("mousemove", move);
                         document.removeEventListener("mouseup", up);
                         el.dataset.panned = String(Number(el.dataset.panned || 0) + 1); };
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
    }
    function reset(u2) {
      resetting = true; lastRange = null;
      u2.setData(full, true);
      if (home.x) u2.setScale("x", { min: home.x[0], max: home.x[1] });
      if (home.y) u2.setScale("y", { min: home.y[0], max: home.y[1] });
      resetting = false;
      share(u2, null);
    }
    function share(u2, range) {
      if (!opts.group) return;
      for (const other of groups[opts.group] || []) {
        if (other === el || !other._u || other._sharing) continue;
        other._sharing = true;
        if (range) other._u.setScale("x", { min: range[0], max: range[1] });
        else other._u.setData(other._u.data, true);
        other._sharing = false;
      }
    }
    let timer = null;
    function onZoom(u2) {
      if (resetting) return;
      const min = u2.scales.x.min, max = u2.scales.x.max;
      if (!el._sharing) share(u2, [min, max]);
      if (!plot.decimated || !opts.zoom || !plot.key) return;
      if (lastRange && lastRange[0] === min && lastRange[1] === max) return;
      // the whole plot (as drawn at first): the samples already shown are the answer
      const xs = full[0];
      if (!lastRange && xs.length && min <= xs[0] && max >= xs[xs.length - 1]) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        lastRange = [min, max];
        opts.zoom(plot.key, min, max, u2.bbox.width / devicePixelRatio).then(z => {
          if (el._u !== u2 || z.error) return;
          u2.setData(toData(z), false);  // scales kept (and a y-zoom with them)
          el.dataset.zoomed = String(Number(el.dataset.zoomed || 0) + 1);
          el.dataset.zoomedRange = `${min},${max}`;  // the range these samples are of
        }).catch(() => {});
      }, 120);
    }
    if (opts.group) {
      groups[opts.group] = (groups[opts.group] || []).filter(e => e.isConnected && e !== el);
      groups[opts.group].push(el);
    }
  }

  return { draw, showError, showNote, clear, labels, logSplits };
})();
