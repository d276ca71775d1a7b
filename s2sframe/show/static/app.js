// s2s show: the page. State lives here; the server answers JSON (see server.py).
"use strict";

const $ = id => document.getElementById(id);
const state = {
  index: 0, target: 0, count: 0, segment: null, classes: [], plots: [], readonly: false,
  right: null, bottom: null, nav: 0, timings: [],
};
window.s2sState = state;

async function api(path, params) {
  const q = params ? "?" + new URLSearchParams(params) : "";
  const r = await fetch("/api/" + path + q, { credentials: "same-origin" });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

async function post(path, body) {
  const r = await fetch("/api/" + path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-S2S": "1" },
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

let toastTimer = null;
function toast(msg, error) {
  const t = $("toast");
  t.textContent = msg; t.className = error ? "err" : ""; t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, error ? 6000 : 2500);
}

function plotWidth(el) { return Math.round(Math.max(el.clientWidth, 300)); }
const zoom = (key, x0, x1, width) => api("zoom", { key, x0, x1, width: Math.round(width) });

// ---------------------------------------------------------------- segments
function userPlotRequests(index, pre) {  // asked with the segment: computed in parallel
  const out = {};
  for (const pos of ["right", "bottom"]) {
    const name = state[pos];
    if (name == null) continue;
    out[pos] = api("plot", { index, name, pre: pre ? 1 : 0, width: plotWidth($(pos + "-plot")) })
      .catch(e => ({ error: e.message }));
  }
  return out;
}

async function show(index) {
  if (state.count < 1) { noSegments(); return; }
  index = ((index % state.count) + state.count) % state.count;
  state.target = index;  // rapid key presses move on from here, not from the drawn one
  const nav = ++state.nav, t0 = performance.now();
  const pre = $("pre").checked, comp = $("comp").checked;
  const plots = userPlotRequests(index, pre);
  let seg;
  try {
    seg = await api("segment", { index, pre: pre ? 1 : 0, comp: comp ? 1 : 0,
                                 width: plotWidth($("main-plot")),
                                 plots: [state.right, state.bottom].filter(p => p != null).join(",") });
  } catch (e) { toast(e.message, true); return; }
  if (nav !== state.nav) return;  // the user moved on meanwhile
  state.index = index; state.segment = seg;
  $("pos").textContent = (index + 1).toLocaleString("en-US");
  $("count").textContent = seg.count.toLocaleString("en-US");
  $("seed-id").textContent = `${seg.seed_id || ""}  (id ${seg.id})`;
  drawComponents(comp ? seg.components || [] : null, pre);
  S2SPlots.draw($("main-plot"), seg.main, { title: seg.seed_id + (pre ? " (pre-processed)" : ""),
                                            group: "wave", zoom });
  renderLabels(seg.labels);
  renderMetadata(seg.metadata);
  const m = Object.fromEntries(seg.metadata);
  $("desc").textContent = m["event.magnitude"] == null ? "" :
    `M ${m["event.magnitude"]} ${m["event.mag_type"] || ""} · ` +
    `${Math.round(m["event_distance_km"] || 0).toLocaleString("en-US")} km`;
  requestAnimationFrame(() => setTimeout(() => {
    if (nav !== state.nav) return;
    const ms = performance.now() - t0;
    state.timings.push({ index, id: seg.id, total_ms: ms, server_ms: seg.server_ms });
    $("timing").textContent = `${Math.round(ms)} ms`;
    document.body.dataset.shownIndex = String(index);
    drawUserPlots(nav, plots);
  }));
}

function drawComponents(list, pre) {  // null: not asked for
  const box = $("components");
  box.querySelectorAll(".plot").forEach(S2SPlots.clear);
  box.replaceChildren();
  if (list && !list.length) {
    const note = document.createElement("div");
    note.className = "note";
    note.textContent = "No other components: no segment of this event and station with the " +
      "same location and band/instrument code (first two letters of the channel)";
    box.append(note);
  }
  for (const p of list || []) {
    const el = document.createElement("div");
    el.className = "plot";
    box.append(el);
    S2SPlots.draw(el, p, { title: (p.seed_id || "component") + (pre ? " (pre-processed)" : ""),
                           group: "wave", zoom });
  }
}

async function drawUserPlots(nav, requests) {
  const pre = $("pre").checked;
  requests = requests || userPlotRequests(state.index, pre);
  await Promise.all(Object.entries(requests).map(async ([pos, request]) => {
    const name = state[pos], el = $(pos + "-plot");
    el.insertAdjacentHTML("beforeend", '<div class="plot-busy">computing…</div>');
    const p = await request;
    if (nav !== state.nav || name !== state[pos]) return;
    const spec = state.plots.find(x => x.name === name) || {};
    S2SPlots.draw(el, p, { title: name, xaxis: spec.xaxis, yaxis: spec.yaxis, zoom });
  }));
  if (nav === state.nav) document.body.dataset.plotsIndex = String(state.index);
}

function noSegments() {  // nothing on screen: nothing to label either
  state.segment = null; state.index = 0; state.target = 0; state.nav++;
  $("pos").textContent = "0"; $("count").textContent = "0"; $("seed-id").textContent = "";
  $("desc").textContent = "";
  drawComponents(null, false);
  for (const pos of ["right", "bottom"]) S2SPlots.clear($(pos + "-plot"));
  S2SPlots.showNote($("main-plot"), "", "No segment matches the selection: click Select");
  renderLabels([]);
  renderMetadata([]);
  document.body.dataset.shownIndex = "none";
}

// ---------------------------------------------------------------- labels
function renderLabels(labels) {
  const box = $("labels");
  box.replaceChildren();
  state.classes.forEach((c, i) => {
    const lab = document.createElement("label");
    lab.title = c.description || c.label;
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.dataset.classId = c.id;
    cb.disabled = state.readonly || !state.segment;
    cb.checked = (labels || []).includes(c.id);
    cb.addEventListener("change", () => setLabel(c.id, cb.checked));
    const kbd = document.createElement("kbd");
    kbd.textContent = i < 9 ? String(i + 1) : "";
    const name = document.createElement("span");
    name.textContent = c.label;
    const count = document.createElement("span");
    count.className = "count"; count.dataset.countId = c.id; count.textContent = `(${c.count})`;
    lab.append(cb, kbd, name, count);
    if (!state.readonly) {
      const del = document.createElement("button");
      del.className = "del"; del.type = "button"; del.title = `delete class ${c.label}`;
      del.textContent = "×";
      del.addEventListener("click", () => deleteClass(c));
      lab.append(del);
    }
    box.append(lab);
  });
  if (!state.classes.length) box.textContent = "No classes yet.";
}

async function setLabel(classId, value) {
  if (state.readonly || !state.segment) return;
  try {
    const r = await post("label", { segment_id: state.segment.id, class_id: classId, value });
    state.segment.labels = r.labels;
    const c = state.classes.find(x => x.id === classId);
    if (c) c.count = r.count;
    renderLabels(r.labels);
  } catch (e) { toast(e.message, true); renderLabels(state.segment.labels); }
}

async function deleteClass(c) {
  if (!confirm(`Delete class "${c.label}" and its ${c.count} label(s) from the database?`)) return;
  try { state.classes = await post("classes/delete", { id: c.id }); renderLabels(state.segment ? state.segment.labels : []); }
  catch (e) { toast(e.message, true); }
}

$("add-class").addEventListener("submit", async ev => {
  ev.preventDefault();
  try {
    state.classes = await post("classes/add", { label: $("new-label").value,
                                                description: $("new-description").value });
    $("new-label").value = ""; $("new-description").value = "";
    renderLabels(state.segment ? state.segment.labels : []);
  } catch (e) { toast(e.message, true); }
});

// ---------------------------------------------------------------- metadata
function renderMetadata(rows) {
  const table = $("metadata");
  table.replaceChildren();
  let group = null;
  for (const [name, value] of rows) {
    const g = name.includes(".") ? name.split(".")[0] : "segment";
    if (g !== group) {
      group = g;
      const tr = table.insertRow(); tr.className = "group";
      const td = tr.insertCell(); td.colSpan = 2; td.textContent = g;
    }
    const tr = table.insertRow();
    tr.insertCell().textContent = name;
    tr.insertCell().textContent = value === null ? "null" : String(value);
  }
}

// ---------------------------------------------------------------- tabs of user plots
function renderTabs() {
  for (const pos of ["right", "bottom"]) {
    const plots = state.plots.filter(p => p.position === (pos === "right" ? "r" : "b"));
    const box = $(pos + "-tabs");
    box.replaceChildren();
    $(pos + "-plot").hidden = plots.length === 0;
    state[pos] = plots.length ? plots[0].name : null;
    for (const p of plots) {
      const b = document.createElement("button");
      b.textContent = p.name; b.title = p.doc || p.name; b.dataset.plot = p.name;
      b.className = p.name === state[pos] ? "on" : "";
      b.addEventListener("click", () => {
        state[pos] = p.name;
        box.querySelectorAll("button").forEach(x => x.classList.toggle("on", x === b));
        if (state.segment) drawUserPlots(state.nav);
      });
      box.append(b);
    }
  }
}

// ---------------------------------------------------------------- dialogs
function toggle(id) { const d = $(id); d.hidden = !d.hidden; if (!d.hidden) d.querySelector("textarea").focus(); }
document.querySelectorAll(".dialog .close").forEach(b =>
  b.addEventListener("click", () => { b.closest(".dialog").hidden = true; }));
$("btn-select").addEventListener("click", () => toggle("select-dialog"));
$("btn-config").addEventListener("click", () => toggle("config-dialog"));

$("do-select").addEventListener("click", async () => {
  const msg = $("select-msg");
  msg.className = "msg"; msg.textContent = "selecting…";
  try {
    const r = await post("selection", { text: $("selection").value });
    state.count = r.count;
    msg.className = "msg ok"; msg.textContent = `${r.count.toLocaleString("en-US")} segments selected`;
    $("count").textContent = r.count.toLocaleString("en-US");
    show(0);
  } catch (e) { msg.className = "msg"; msg.textContent = e.message; }
});

$("do-config").addEventListener("click", async () => {
  const msg = $("config-msg");
  try {
    await post("config", { text: $("config").value });
    msg.className = "msg ok"; msg.textContent = "applied";
    show(state.index);
  } catch (e) { msg.className = "msg"; msg.textContent = e.message; }
});

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", ev => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = (ev.target.tagName || "").toLowerCase();
  if (tag === "textarea" || tag === "input" && ev.target.type !== "checkbox" || tag === "select") return;
  if (ev.key === "ArrowRight") { ev.preventDefault(); show(state.target + 1); }
  else if (ev.key === "ArrowLeft") { ev.preventDefault(); show(state.target - 1); }
  else if (/^[1-9]$/.test(ev.key)) {
    const c = state.classes[Number(ev.key) - 1];
    if (c && state.segment) { ev.preventDefault(); setLabel(c.id, !state.segment.labels.includes(c.id)); }
  }
});
$("prev").addEventListener("click", () => show(state.target - 1));
$("next").addEventListener("click", () => show(state.target + 1));
$("pre").addEventListener("change", () => show(state.index));
$("comp").addEventListener("change", () => show(state.index));

// ---------------------------------------------------------------- start
(async () => {
  let init;
  try { init = await api("init"); } catch (e) { toast(e.message, true); return; }
  state.count = init.count; state.classes = init.classes; state.plots = init.plots;
  state.readonly = init.readonly;
  $("title").textContent = init.title; $("title").title = init.title;
  $("ro-badge").hidden = !init.readonly;
  $("add-class").hidden = init.readonly;
  $("selection").value = init.selection; $("config").value = init.config;
  $("pre-label").title = init.preprocess;
  $("attributes").textContent = init.attributes.join("\n");
  $("count").textContent = init.count.toLocaleString("en-US");
  renderTabs();
  document.body.dataset.ready = "1";
  show(0);
})();
