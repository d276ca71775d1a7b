// Plots of s2s show: uPlot charts (vendored, MIT) with UTC time axes, markers, gaps,
// drag-to-zoom (refined by the server when the data were decimated), double click to reset.
"use strict";

const S2SPlots = (() => {
  const COLORS = ["#1f5f8b", "#c0392b", "#27864a", "#8e44ad", "#d68910", "#555"];
  const groups = {};  // x-zoom shared by the waveform and the other components

  function fmtNum(v) {
    if (v == null) return "";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
    return String(Number(v.toPrecision(4)));
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

  function clear(el) {
    if (el._u) { el._u.destroy(); el._u = null; }
    delete el.dataset.zoomed;
    el.replaceChildren();
  }

  function showError(el, title, message) {
    clear(el);
    const t = document.createElement("div");
    t.className = "plot-title"; t.textContent = title || "";
    const e = document.createElement("div");
    e.className = "plot-error"; e.textContent = message;
    el.append(t, e);
  }

  function toData(plot) {
    const tables = plot.series.map(s => [s.x, s.y]);
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);
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
      for (const m of plot.markers || []) {
        if (m.x == null) continue;
        const x = u.valToPos(m.x, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        ctx.strokeStyle = m.kind === "arrival" ? "#008b8b" : "#888";
        ctx.lineWidth = (m.kind === "arrival" ? 2 : 1) * devicePixelRatio;
        ctx.setLineDash(m.kind === "arrival" ? [6, 4] : [2, 3]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
      }
      if ((plot.gaps || []).length) {
        ctx.fillStyle = "#c0392b";
        ctx.fillText(`${plot.gaps.length} gap(s)`, u.bbox.left + u.bbox.width - 60 * devicePixelRatio,
                     top + 12 * devicePixelRatio);
      }
      ctx.restore();
    };
  }

  // draw(el, plot, {title, xaxis, yaxis, group, zoom(key, x0, x1, width) -> Promise<plot>})
  function draw(el, plot, opts = {}) {
    if (plot.error) { showError(el, opts.title, plot.error); return; }
    if (!plot.series || !plot.series.length || !plot.series.some(s => s.x.length)) {
      showError(el, opts.title, "nothing to plot"); return;
    }
    clear(el);
    const xlog = (opts.xaxis || {}).type === "log", ylog = (opts.yaxis || {}).type === "log";
    let data = toData(plot);
    if (xlog) {  // a log axis has no room for x <= 0 (e.g. the 0 Hz bin of a spectrum)
      const keep = data[0].map(v => v > 0);
      data = data.map(col => col.filter((_, i) => keep[i]));
    }
    if (ylog) data = data.map((col, i) => i === 0 ? col : col.map(v => (v != null && v <= 0) ? null : v));
    const width = Math.max(el.clientWidth, 200), height = Math.max(el.clientHeight - 4, 100);
    const full = data;
    let lastRange = null, resetting = false;
    const fmtX = plot.time ? (u, v) => (v == null ? "" : new Date(v * 1e3).toISOString()
      .replace("T", " ").replace("Z", " UTC")) : (u, v) => fmtNum(v);
    const series = [{ value: fmtX, label: plot.time ? "time" : "x" }].concat(
      plot.series.map((s, i) => ({
        label: s.name, stroke: COLORS[i % COLORS.length], width: 1, spanGaps: false,
        points: { show: false }, value: (u, v) => fmtNum(v),
      })));
    const o = {
      // the legend under the plot reads the values at the cursor
      width, height: Math.max(height - 24, 80), series, legend: { show: true, live: true },
      scales: {
        x: { time: !!plot.time, distr: xlog ? 3 : 1 },
        y: { distr: ylog ? 3 : 1 },
      },
      axes: [
        { stroke: "#555", grid: { stroke: "#eee" }, ticks: { stroke: "#ccc" },
          label: plot.time ? "UTC" : (opts.xaxis || {}).title || undefined, labelSize: 14,
          labelFont: "11px sans-serif", font: "11px sans-serif", size: plot.time ? 44 : 30,
          values: plot.time ? fmtTimes : (u, splits) => splits.map(fmtNum) },
        { stroke: "#555", grid: { stroke: "#eee" }, ticks: { stroke: "#ccc" }, size: 58,
          font: "11px sans-serif", values: (u, splits) => splits.map(fmtNum) },
      ],
      cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false },
                bind: { dblclick: (u) => () => { reset(u); return null; } } },
      hooks: {
        draw: [markersHook(plot)],
        setScale: [(u, key) => { if (key === "x") onZoom(u); }],
      },
    };
    if (plot.time) o.tzDate = ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
    const u = new uPlot(o, data, el);
    el._u = u;
    const t = document.createElement("div");
    t.className = "plot-title"; t.textContent = opts.title || "";
    el.append(t);

    function reset(u2) {
      resetting = true; lastRange = null;
      u2.setData(full, true);
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
          u2.setData(toData(z), false);
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

  function resizeAll() {
    document.querySelectorAll(".plot").forEach(el => {
      if (el._u) el._u.setSize({ width: Math.max(el.clientWidth, 200),
                                 height: Math.max(el.clientHeight - 28, 80) });
    });
  }
  let rt = null;
  window.addEventListener("resize", () => { clearTimeout(rt); rt = setTimeout(resizeAll, 150); });

  return { draw, showError, clear };
})();
