// s2s show: the downloads page (per data center x outcome tables, station map in SVG).
"use strict";

const COLORS = ["#1f5f8b", "#c0392b", "#27864a", "#8e44ad", "#d68910", "#16a085", "#555"];
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};
const host = url => { try { return new URL(url).host; } catch (e) { return url; } };

function runTable(run, data) {
  const box = el("div", { class: "run", "data-run": run.id, "data-status": run.status || "" });
  const bad = run.status === "failed" || run.status === "interrupted";
  box.append(el("h3", bad ? { class: "failed" } : {}, `Download ${run.id}: ${run.run_time || "?"}  ` +
    `${run.status ? run.status.toUpperCase() + " " : ""}` +
    `(warnings ${run.warnings ?? "-"}, errors ${run.errors ?? "-"}` +
    `${run.program_version ? ", version " + run.program_version : ""})`));
  const dcs = Object.keys(run.counts);
  if (!dcs.length) { box.append(el("p", {}, "No segments")); return box; }
  const table = el("table");
  const head = table.insertRow();
  head.append(el("th", { class: "dc" }, "data center"));
  for (const [key, title, desc] of data.outcomes) head.append(el("th", { title: desc, "data-outcome": key }, title));
  head.append(el("th", {}, "total"));
  const totals = {};
  const addRow = (label, tip, cells, cls) => {
    const tr = table.insertRow();
    if (cls) tr.className = cls;
    tr.append(el("td", { class: "dc", title: tip }, label));
    let sum = 0;
    for (const [key] of data.outcomes) {
      const n = cells[key] || 0; sum += n;
      const td = el("td", {}, n ? n.toLocaleString("en-US") : "");
      if (n) td.className = key.startsWith("ok") ? "ok" : "bad";
      tr.append(td);
    }
    tr.append(el("td", {}, sum.toLocaleString("en-US")));
  };
  for (const dc of dcs) {
    const cells = run.counts[dc];
    for (const [k, n] of Object.entries(cells)) totals[k] = (totals[k] || 0) + n;
    addRow(host(data.datacenters[dc] || dc), data.datacenters[dc] || "", cells);
  }
  if (dcs.length > 1) addRow("total", "", totals, "total");
  box.append(table);
  for (const what of ["config", "log"]) {
    const det = el("details");
    det.append(el("summary", {}, what));
    const pre = el("pre", {}, "loading…");
    det.append(pre);
    det.addEventListener("toggle", async () => {
      if (!det.open || pre.dataset.loaded) return;
      if (data.texts) {  // a report file (s2s dl stats --html): the texts are in the page
        pre.textContent = (data.texts[run.id] || {})[what] || `(no ${what})`;
        pre.dataset.loaded = "1";
        return;
      }
      const r = await fetch(`/api/download_log?id=${run.id}`);
      const d = await r.json();
      pre.textContent = (r.ok ? d[what] : d.error) || `(no ${what})`;
      pre.dataset.loaded = "1";
    });
    box.append(det);
  }
  return box;
}

// label boxes (SVG units) placed where they overlap no other label nor a station dot;
// a label without room is left out (its station's tooltip still names it)
function placeLabels(points, W, H) {
  const boxes = points.map(p => ({ x: p.x - 7, y: p.y - 7, w: 14, h: 14 }));  // the dots
  const overlaps = b => boxes.some(o => b.x < o.x + o.w && o.x < b.x + b.w &&
                                        b.y < o.y + o.h && o.y < b.y + b.h);
  return points.map(p => {
    const w = 6.2 * p.code.length + 2, h = 12;
    for (const [dx, dy, anchor] of [[8, 4, "start"], [-8, 4, "end"], [0, -9, "middle"],
                                   [0, 17, "middle"], [8, -7, "start"], [8, 14, "start"],
                                   [-8, -7, "end"], [-8, 14, "end"]]) {
      const x0 = anchor === "start" ? p.x + dx : anchor === "end" ? p.x + dx - w : p.x - w / 2;
      const b = { x: x0, y: p.y + dy - 10, w, h };
      if (b.x < 0 || b.y < 0 || b.x + w > W || b.y + h > H || overlaps(b)) continue;
      boxes.push(b);
      return { x: p.x + dx, y: p.y + dy, anchor };
    }
    return null;
  });
}

async function land() {  // Natural Earth 1:110m land outlines, served by the app (offline)
  try {
    const r = await fetch("/static/land110m.json");
    return r.ok ? (await r.json()).rings : [];
  } catch (e) { return []; }
}

async function map(data) {
  const NS = "http://www.w3.org/2000/svg";
  const st = data.stations.filter(s => s.lat != null && s.lon != null);
  const box = document.getElementById("map");
  if (!st.length) { box.textContent = "No stations"; return; }
  let [lo0, lo1] = [Math.min(...st.map(s => s.lon)), Math.max(...st.map(s => s.lon))];
  let [la0, la1] = [Math.min(...st.map(s => s.lat)), Math.max(...st.map(s => s.lat))];
  const pad = Math.max(1, 0.08 * Math.max(lo1 - lo0, la1 - la0));
  lo0 = Math.max(-180, lo0 - pad); lo1 = Math.min(180, lo1 + pad);
  la0 = Math.max(-90, la0 - pad); la1 = Math.min(90, la1 + pad);
  const W = 800, kx = Math.cos((la0 + la1) / 2 * Math.PI / 180);
  const H = Math.max(200, Math.min(800, W * (la1 - la0) / ((lo1 - lo0) * kx)));
  const X = lon => (lon - lo0) / (lo1 - lo0) * W, Y = lat => H - (lat - la0) / (la1 - la0) * H;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const span = Math.max(lo1 - lo0, la1 - la0);
  const step = span > 90 ? 30 : span > 40 ? 10 : span > 15 ? 5 : span > 6 ? 2 : 1;
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    svg.append(e); return e;
  };
  // the report file carries its outlines (no server to fetch them from)
  const rings = (data.land || await land()).filter(r => {  // those in view only
    let a = Infinity, b = -Infinity, c = Infinity, d = -Infinity;
    for (let i = 0; i < r.length; i += 2) {
      a = Math.min(a, r[i]); b = Math.max(b, r[i]); c = Math.min(c, r[i + 1]); d = Math.max(d, r[i + 1]);
    }
    return b / 10 >= lo0 && a / 10 <= lo1 && d / 10 >= la0 && c / 10 <= la1;
  });
  if (rings.length) {
    const d = rings.map(r => {
      let out = "";
      for (let i = 0; i < r.length; i += 2)
        out += (i ? "L" : "M") + X(r[i] / 10).toFixed(1) + " " + Y(r[i + 1] / 10).toFixed(1);
      return out + "Z";
    }).join("");
    add("path", { d, class: "land", fill: "#f4f1e8", stroke: "#9aa", "stroke-width": 0.8,
                  "fill-rule": "evenodd" });
  }
  for (let lon = Math.ceil(lo0 / step) * step; lon <= lo1; lon += step) {
    add("line", { x1: X(lon), x2: X(lon), y1: 0, y2: H, stroke: "#cdd", "stroke-width": 1 });
    add("text", { x: X(lon) + 2, y: H - 4, "font-size": 11, fill: "#889" }, `${lon}°`);
  }
  for (let lat = Math.ceil(la0 / step) * step; lat <= la1; lat += step) {
    add("line", { x1: 0, x2: W, y1: Y(lat), y2: Y(lat), stroke: "#cdd", "stroke-width": 1 });
    add("text", { x: 3, y: Y(lat) - 2, "font-size": 11, fill: "#889" }, `${lat}°`);
  }
  const dcIds = Object.keys(data.datacenters);
  const points = st.map(s => ({ x: X(s.lon), y: Y(s.lat), code: s.code }));
  const placed = placeLabels(points, W, H);
  st.forEach((s, i) => {
    const color = COLORS[dcIds.indexOf(String(s.datacenter_id)) % COLORS.length];
    const frac = s.segments ? s.ok / s.segments : 0;
    const g = add("circle", { cx: X(s.lon), cy: Y(s.lat), r: 6, fill: color,
      "fill-opacity": (0.25 + 0.75 * frac).toFixed(2), stroke: color, "data-station": s.code });
    const t = document.createElementNS(NS, "title");
    t.textContent = `${s.code}: ${s.ok} of ${s.segments} segments with data`;
    g.append(t);
  });
  st.forEach((s, i) => {  // labels above every dot
    const p = placed[i];
    if (p) add("text", { x: p.x, y: p.y, "text-anchor": p.anchor, "font-size": 10, fill: "#333",
                         class: "station-label", "paint-order": "stroke", stroke: "#fff",
                         "stroke-width": 2.5 }, s.code);
  });
  box.replaceChildren(svg);
  const legend = document.getElementById("legend");
  dcIds.forEach((id, i) => {
    const sp = el("span"); const dot = el("i");
    dot.style.background = COLORS[i % COLORS.length];
    sp.append(dot, document.createTextNode(host(data.datacenters[id])));
    legend.append(sp);
  });
  legend.append(el("span", {}, "(opacity: fraction of segments with data; " +
                               "land: Natural Earth 1:110m)"));
}

(async () => {
  // a report file (s2s dl stats --html) carries its data; the viewer's page asks the server
  const r = window.S2S_DOWNLOADS ? null : await fetch("/api/downloads");
  const data = window.S2S_DOWNLOADS || await r.json();
  if (r && !r.ok) { document.getElementById("runs").textContent = data.error; return; }
  document.getElementById("title").textContent = data.title;
  const runs = document.getElementById("runs");
  for (const run of data.runs) runs.append(runTable(run, data));
  await map(data);
  document.body.dataset.ready = "1";
})();
