// The live-tail page: the seed's start_tail_f / stop_tail_f over /api/v1/ws, with several
// files at once (one colour each), in the shared log viewer (pause/resume, filter,
// highlighting, download). Scrolling up loads each file's stored lines before the oldest shown
// (the history of the subject its lines are stored on), in stream order.
import { api, compareCursors, el, historyBefore, wsUrl } from "./app.js";
import { LogViewer } from "./viewer.js";

const COLOURS = ["#4ea1ff", "#5fd38d", "#f59e4a", "#c792ea", "#4fd1c5", "#ff8fa3", "#e6d36a", "#9fb4ff"];

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

let catalog = { hosts: [] };
let extraFiles = []; // files added by path or by browsing, for the current host
let socket = null;
let running = false;
const statuses = new Map(); // name -> {status, message}
const colours = new Map(); // name -> colour

function colourOf(name) {
  if (!colours.has(name)) colours.set(name, COLOURS[colours.size % COLOURS.length]);
  return colours.get(name);
}

const OLDER_PAGE = 500;
const names = new Map(); // subject -> the file name its lines show under

// The lines stored before the oldest shown, of every file seen on this page, in stream order:
// lines older than what another file's page reached wait for the next load (they are read
// again then: each file's boundary is its oldest line shown), so files stay interleaved.
async function loadOlder(boundary) {
  const pages = await Promise.all([...names].map(async ([subject, name]) => {
    const before = boundary(subject);
    return before ? historyBefore(subject, before, OLDER_PAGE, () => name) : { lines: [], more: false };
  }));
  const reached = pages.filter((p) => p.more && p.lines.length).map((p) => p.lines[0].cursor);
  const cutoff = reached.sort(compareCursors).pop();
  const all = pages.flatMap((p) => p.lines);
  const lines = all.filter((l) => !cutoff || compareCursors(l.cursor, cutoff) >= 0).sort((a, b) => compareCursors(a.cursor, b.cursor));
  return { lines, done: pages.every((p) => !p.more) && lines.length === all.length };
}

const viewer = new LogViewer(
  { view: "log", pause: "pause", held: "held", autoscroll: "autoscroll", filter: "filter", download: "download", clear: "clear", counts: "counts", older: "older", historyStatus: "history-status" },
  { colourOf, fileName: () => `tailrace-${$("host").value || "tail"}`, loadOlder },
);

function currentHost() {
  return catalog.hosts.find((h) => h.host === $("host").value);
}

function stemOf(path) {
  const file = path.split("/").pop() || path;
  const dot = file.indexOf(".");
  return dot > 0 ? file.slice(0, dot) : file;
}

function renderFiles() {
  const box = $("files");
  const host = currentHost();
  const legend = el("legend", {}, "Files");
  if (!host) {
    box.replaceChildren(legend, el("p", { class: "muted" }, "no host"));
    return;
  }
  $("host-kind").textContent = `${host.kind}${host.address ? ` · ${host.address}` : ""}`;
  const wanted = new Set((params.get("files") || "").split(",").filter(Boolean));
  const files = [...host.files, ...extraFiles];
  const items = files.map((f) => {
    const input = el("input", { type: "checkbox", value: f.path, "data-name": f.name });
    if (wanted.has(f.name) || f.checked) input.checked = true;
    const label = el("label", { title: f.path }, input, el("span", { class: "swatch", style: `background:${colourOf(f.name)}` }), f.name);
    return label;
  });
  box.replaceChildren(legend, ...(items.length ? items : [el("p", { class: "muted" }, "no files in the catalog for this host type; add a path")]));
}

function selectedFiles() {
  return [...document.querySelectorAll("#files input[type=checkbox]:checked")].map((i) => ({ name: i.dataset.name, path: i.value }));
}

function setStatusLine(text, cls = "muted") {
  const p = $("status");
  p.className = `status ${cls}`;
  p.textContent = text;
}

function renderStatuses() {
  const p = $("status");
  p.className = "status";
  p.replaceChildren(...[...statuses].map(([name, s]) =>
    el("span", { class: `file ${s.status === "error" ? "error" : s.status === "started" ? "ok" : "muted"}`, "data-name": name, "data-status": s.status },
      el("span", { class: "swatch", style: `background:${colourOf(name)}` }), `${name}: ${s.status}${s.message ? ` — ${s.message}` : ""}`)));
}

function setRunning(on) {
  running = on;
  $("start").disabled = on;
  $("stop").disabled = !on;
  $("pause").disabled = !on;
  $("host").disabled = on;
}

function onLog(data) {
  if (data.subject) names.set(data.subject, data.name);
  viewer.push({ name: data.name, line: data.line ?? "", cursor: data.cursor, key: data.subject });
}

function onStatus(data) {
  statuses.set(data.name, { status: data.status, message: data.message });
  renderStatuses();
  const anyLive = [...statuses.values()].some((s) => s.status !== "stopped");
  if (!anyLive && running) finish();
}

function finish() {
  setRunning(false);
  viewer.setPaused(false);
  if (socket) { socket.close(); socket = null; }
}

function start() {
  const host = currentHost();
  const files = selectedFiles();
  if (!host) return setStatusLine("pick a host", "error");
  if (!files.length) return setStatusLine("pick at least one file", "error");
  statuses.clear();
  for (const f of files) statuses.set(f.name, { status: "starting", message: f.path });
  renderStatuses();
  setRunning(true);
  socket = new WebSocket(wsUrl("/api/v1/ws"));
  socket.onopen = () => {
    for (const f of files) socket.send(JSON.stringify({ event: "start_tail_f", data: { cvm_ip: host.host, log_path: f.path, log_name: f.name } }));
  };
  socket.onmessage = (m) => {
    const { event, data } = JSON.parse(m.data);
    if (event === "log") onLog(data);
    else if (event === "tail_f_status") onStatus(data);
    else if (event === "error") {
      const name = data.request === "start_tail_f" ? "request" : event;
      statuses.set(name, { status: "error", message: data.detail });
      renderStatuses();
    } else if (event === "lagged") {
      setStatusLine(`this page fell behind and was disconnected (${data.detail}); press Start again`, "error");
    }
  };
  socket.onclose = () => {
    if (running) {
      setRunning(false);
      statuses.set("connection", { status: "error", message: "the connection to the gateway closed" });
      renderStatuses();
    }
    socket = null;
  };
}

function stop() {
  if (!socket) return;
  socket.send(JSON.stringify({ event: "stop_tail_f", data: {} }));
  // The gateway answers `stopped` per file (then the socket closes); do not wait forever.
  setTimeout(() => { if (running) finish(); }, 3000);
}

function addFile(path, name) {
  path = path.trim();
  if (!path.startsWith("/")) return setStatusLine(`a path must be absolute: ${path}`, "error");
  extraFiles.push({ name: name || stemOf(path), path, checked: true });
  renderFiles();
}

async function browse() {
  const host = currentHost();
  const dir = $("browse-dir").value.trim();
  const list = $("browse-list");
  if (!host || !dir) return;
  try {
    const listing = await api(`/api/v1/tail/list?host=${encodeURIComponent(host.host)}&dir=${encodeURIComponent(dir)}`);
    list.replaceChildren(...listing.entries.map((e) => {
      const li = el("li", { "data-path": e.path }, `${e.dir ? "📁 " : ""}${e.name}${e.dir ? "/" : ""}`);
      li.addEventListener("click", () => {
        if (e.dir) { $("browse-dir").value = e.path; browse(); } else { addFile(e.path); }
      });
      return li;
    }));
    if (listing.truncated) list.append(el("li", { class: "muted" }, "… more entries not shown"));
    list.hidden = false;
  } catch (e) {
    list.replaceChildren(el("li", { class: "error" }, e.message));
    list.hidden = false;
  }
}

async function load() {
  try {
    catalog = await api("/api/v1/tail/catalog");
  } catch (e) {
    setStatusLine(`cannot read the catalog: ${e.message}`, "error");
    return;
  }
  const select = $("host");
  if (!catalog.hosts.length) {
    select.replaceChildren(el("option", { value: "" }, "no host is served by any producer"));
    return;
  }
  select.replaceChildren(...catalog.hosts.map((h) => el("option", { value: h.host }, h.address && h.address !== h.host ? `${h.host} (${h.address})` : h.host)));
  const want = params.get("host") || params.get("cvm");
  const match = catalog.hosts.find((h) => h.host === want || h.address === want);
  if (match) select.value = match.host;
  renderFiles();
}

$("host").addEventListener("change", () => { extraFiles = []; renderFiles(); });
$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
$("custom-add").addEventListener("click", () => addFile($("custom-path").value));
$("browse").addEventListener("click", browse);
window.addEventListener("beforeunload", () => { if (socket) socket.close(); });
load();
