// The live-tail page: the seed's start_tail_f / stop_tail_f over /api/v1/ws, with several
// files at once (one colour each), in the shared log viewer (pause/resume, filter,
// highlighting, download). Scrolling up loads each file's stored lines before the oldest shown
// (the history of the subject its lines are stored on), in stream order.
//
// Nothing is lost without a word: every refusal is shown beside its file; a lost connection is
// said so and retried with backoff, each file resuming right after the last line received
// (`after`), and the page says how many lines it caught up. The URL carries the whole view
// (host, files, typed paths, filter), and names it does not know are reported.
import { api, compareCursors, el, historyBefore, historyRange, wsUrl } from "./app.js";
import { LogViewer } from "./viewer.js";

const COLOURS = ["#4ea1ff", "#5fd38d", "#f59e4a", "#c792ea", "#4fd1c5", "#ff8fa3", "#e6d36a", "#9fb4ff"];

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

let catalog = { hosts: [] };
let extraFiles = []; // files added by path or by browsing, for the current host: {name, path}
const checked = new Set((params.get("files") || "").split(",").filter(Boolean)); // names
let socket = null;
let running = false;
let userStopped = false;
let session = []; // the files of the running tail: {name, path}
const lastCursor = new Map(); // name -> cursor of the last line received
let retries = 0;
let retryTimer = null;
let catchUp = null; // after a reconnect: {targets: Map name -> cursor, lines, pending}
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
  {
    colourOf,
    fileName: () => `tailrace-${$("host").value || "tail"}`,
    loadOlder,
    loadRange: (subject, from, to, progress) => historyRange(subject, from, to, () => names.get(subject), progress),
    // `keep=N` in the link: lines the view holds (100,000 by default).
    maxShown: Number(params.get("keep")) || undefined,
  },
);

for (const p of params.getAll("path")) {
  const eq = p.indexOf("=");
  const [name, path] = isSource(p) || eq < 0 ? [stemOf(p), p] : [p.slice(0, eq), p.slice(eq + 1)];
  extraFiles.push({ name, path });
  checked.add(name);
}

// Page-level messages (bad links, refused paths): kept until the next one, Start does not
// clear them.
function notice(text, cls = "error") {
  const p = $("notice");
  p.className = `status ${cls}`;
  p.textContent = text;
  p.hidden = !text;
}

// The view as a link: host, checked files, typed paths, filter.
function syncUrl() {
  const p = new URLSearchParams();
  if ($("host").value) p.set("host", $("host").value);
  const catalogNames = new Set((currentHost()?.files || []).map((f) => f.name));
  const names = [...checked].filter((n) => catalogNames.has(n));
  if (names.length) p.set("files", names.join(","));
  for (const f of extraFiles) p.append("path", f.name === stemOf(f.path) ? f.path : `${f.name}=${f.path}`);
  if ($("filter").value) p.set("filter", $("filter").value);
  if (params.get("keep")) p.set("keep", params.get("keep"));
  history.replaceState(null, "", `${location.pathname}${p.size ? `?${p}` : ""}`);
}

function currentHost() {
  return catalog.hosts.find((h) => h.host === $("host").value);
}

// A file's absolute path, or a journal source (`journal:ssh.service`, `journal/ns:*`).
function isSource(path) {
  return path.startsWith("/") || /^journal(\/[\w.-]+)?:/.test(path);
}

// The name a path gets when none is given (as the gateway names it): a file's stem; a journal
// unit without its type, a match's value, or `journal`.
function stemOf(path) {
  const journal = path.match(/^journal(?:\/[\w.-]+)?:(.*)$/);
  if (journal) {
    const selector = journal[1].trim();
    if (selector === "*" || !selector) return "journal";
    if (selector.includes("=")) return selector.split(" ").pop().split("=").slice(1).join("=");
    const dot = selector.lastIndexOf(".");
    return dot > 0 ? selector.slice(0, dot) : selector;
  }
  const file = path.split("/").pop() || path;
  const dot = file.indexOf(".");
  return dot > 0 ? file.slice(0, dot) : file;
}

// The catalog files the host has (all of them while its producer has not looked yet).
function offered(host) {
  return host.files.filter((f) => f.present !== false);
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
  const files = [...offered(host), ...extraFiles];
  const items = files.map((f) => {
    const input = el("input", { type: "checkbox", value: f.path, "data-name": f.name });
    input.checked = checked.has(f.name);
    input.addEventListener("change", () => {
      if (input.checked) checked.add(f.name); else checked.delete(f.name);
      syncUrl();
    });
    const label = el("label", { title: f.path }, input, el("span", { class: "swatch", style: `background:${colourOf(f.name)}` }), f.name);
    return label;
  });
  const absent = host.files.filter((f) => f.present === false);
  const again = el("button", { type: "button", id: "catalog-refresh", class: "link" }, "look again");
  again.addEventListener("click", () => lookAgain(host.host));
  const checkedNote = host.checked_at
    ? el("p", { class: "muted", id: "catalog-absent" },
      absent.length ? `not on this host: ${absent.map((f) => f.name).join(", ")} · ` : `every catalog file is on this host · `, again)
    : el("p", { class: "muted", id: "catalog-absent" }, "not looked for on the host yet · ", again);
  box.replaceChildren(legend, ...(items.length ? items : [el("p", { class: "muted" }, "no catalog file is on this host; add a path")]), checkedNote);
}

// Asks the host's producer to look again which catalog files the host has.
async function lookAgain(name) {
  try {
    const fresh = await api(`/api/v1/tail/catalog/refresh?host=${encodeURIComponent(name)}`, { method: "POST" });
    catalog.hosts = catalog.hosts.map((h) => (h.host === fresh.host ? fresh : h));
    renderFiles();
  } catch (e) {
    notice(`cannot look again on ${name}: ${e.message}`);
  }
}

// Names a link asked for that the host does not offer.
function reportUnknownNames() {
  const host = currentHost();
  if (!host) return;
  const known = new Set([...offered(host), ...extraFiles].map((f) => f.name));
  const unknown = [...checked].filter((n) => !known.has(n));
  if (unknown.length) {
    const absent = new Set(host.files.filter((f) => f.present === false).map((f) => f.name));
    const why = unknown.map((n) => (absent.has(n) ? `${n} (in the catalog, not on the host)` : n));
    notice(`${host.host} offers no file named ${why.join(", ")} (it offers ${[...known].join(", ") || "none"}); add it by path`);
    for (const n of unknown) checked.delete(n);
    syncUrl();
  }
}

function selectedFiles() {
  return [...document.querySelectorAll("#files input[type=checkbox]:checked")].map((i) => ({ name: i.dataset.name, path: i.value }));
}

// The connection's own line: lost, reconnecting, caught up (file statuses do not replace it).
function connectionLine(text, cls = "muted") {
  const p = $("connection");
  p.className = `status ${cls}`;
  p.textContent = text;
  p.hidden = !text;
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
  if (data.cursor) lastCursor.set(data.name, data.cursor);
  if (catchUp) countCaughtUp(data);
  viewer.push({ name: data.name, line: data.line ?? "", cursor: data.cursor, key: data.subject, priority: data.priority });
}

// After a reconnect: lines stored up to each file's newest stored line (asked once the socket
// is back) are the ones caught up.
function countCaughtUp(data) {
  const target = catchUp.targets.get(data.name);
  if (target === undefined) {
    catchUp.early.push(data); // its target is not known yet
    return;
  }
  if (target && compareCursors(data.cursor, target) <= 0) catchUp.lines++;
  if (target && compareCursors(data.cursor, target) >= 0) catchUp.targets.set(data.name, null);
  reportCatchUp();
}

function reportCatchUp() {
  if (!catchUp || catchUp.pending || [...catchUp.targets.values()].some((t) => t)) return;
  const n = catchUp.lines;
  connectionLine(n ? `reconnected; caught up ${n.toLocaleString()} line${n === 1 ? "" : "s"}` : "reconnected; nothing was missed", "ok");
  catchUp = null;
}

async function startCatchUp(files) {
  const mine = { targets: new Map(), lines: 0, pending: true, early: [] };
  catchUp = mine;
  const subjects = new Map([...names].map(([subject, name]) => [name, subject]));
  await Promise.all(files.map(async (f) => {
    const subject = subjects.get(f.name);
    const last = lastCursor.get(f.name);
    let target = null;
    if (subject && last) {
      try {
        const page = await historyBefore(subject, null, 1, () => f.name);
        const newest = page.lines[0]?.cursor;
        if (newest && compareCursors(newest, last) > 0) target = newest;
      } catch { /* no history: nothing to count */ }
    }
    mine.targets.set(f.name, target);
  }));
  // Stopped, or reconnected again, meanwhile: that count is no longer ours to finish.
  if (catchUp !== mine) return;
  mine.pending = false;
  const early = mine.early;
  mine.early = [];
  for (const d of early) countCaughtUp(d);
  reportCatchUp();
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
  clearTimeout(retryTimer);
  catchUp = null;
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
}

function start() {
  const host = currentHost();
  const files = selectedFiles();
  if (!host) return setStatusLine("pick a host", "error");
  if (!files.length) return setStatusLine("pick at least one file", "error");
  statuses.clear();
  lastCursor.clear();
  connectionLine("");
  for (const f of files) statuses.set(f.name, { status: "starting", message: f.path });
  renderStatuses();
  setRunning(true);
  userStopped = false;
  retries = 0;
  session = files.map((f) => ({ ...f, host: host.host }));
  connect(false);
}

// Opens the socket and starts the session's tails; after a lost connection each continues
// right after the last line it delivered.
function connect(resuming) {
  socket = new WebSocket(wsUrl("/api/v1/ws"));
  socket.onopen = () => {
    if (userStopped) { finish(); return; }
    retries = 0;
    for (const f of session) {
      const data = { cvm_ip: f.host, log_path: f.path, log_name: f.name };
      const after = resuming ? lastCursor.get(f.name) : undefined;
      if (after) data.after = after;
      socket.send(JSON.stringify({ event: "start_tail_f", data }));
    }
    if (resuming) {
      connectionLine("reconnected; catching up…", "muted");
      startCatchUp(session);
    }
  };
  socket.onmessage = (m) => {
    const { event, data } = JSON.parse(m.data);
    if (event === "log") onLog(data);
    else if (event === "tail_f_status") onStatus(data);
    else if (event === "error") {
      // A refused start belongs to its file; anything else to the page.
      if (data.request === "start_tail_f" && data.log_name) {
        statuses.set(data.log_name, { status: "error", message: data.detail });
        renderStatuses();
        session = session.filter((f) => f.name !== data.log_name);
        if (!session.length) finish();
      } else {
        notice(`${data.request || "request"}: ${data.detail}`);
      }
    } else if (event === "shutdown") {
      connectionLine("the gateway is stopping; reconnecting when it is back", "error");
    } else if (event === "lagged") {
      setStatusLine(`this page fell behind and was disconnected (${data.detail}); press Start again`, "error");
    }
  };
  socket.onclose = () => {
    socket = null;
    if (!running || userStopped) return;
    // Not the user's doing: say so, and try again with backoff.
    const delay = Math.min(10000, 500 * 2 ** retries);
    retries++;
    for (const f of session) statuses.set(f.name, { status: "reconnecting", message: "connection lost" });
    renderStatuses();
    connectionLine(`the connection to the gateway was lost; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${retries})`, "error");
    retryTimer = setTimeout(() => connect(true), delay);
  };
}

function stop() {
  userStopped = true;
  clearTimeout(retryTimer);
  // Not connected (yet, or again): nothing to ask the gateway; the tails end with the socket.
  if (!socket || socket.readyState !== WebSocket.OPEN) { finish(); return; }
  socket.send(JSON.stringify({ event: "stop_tail_f", data: {} }));
  // The gateway answers `stopped` per file (then the socket closes); do not wait forever.
  setTimeout(() => { if (running) finish(); }, 3000);
}

function addFile(path, name) {
  path = path.trim();
  name = (name || "").trim() || stemOf(path);
  if (!isSource(path)) return notice(`a path must be absolute, or a journal source (journal:UNIT): ${path}`);
  const host = currentHost();
  const taken = [...(host?.files || []), ...extraFiles].find((f) => f.name === name && f.path !== path);
  if (taken) return notice(`the name ${name} is already ${taken.path}; give ${path} another name`);
  if (!extraFiles.some((f) => f.path === path)) extraFiles.push({ name, path });
  checked.add(name);
  notice("");
  renderFiles();
  syncUrl();
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
  else if (want) {
    // Not a silent fall-back to another host: the link named one that is not served.
    select.prepend(el("option", { value: "" }, "— pick a host —"));
    select.value = "";
    notice(`no producer serves a host named ${want}; the hosts are ${catalog.hosts.map((h) => h.host).join(", ")}`);
  }
  renderFiles();
  reportUnknownNames();
  if (params.get("filter")) {
    $("filter").value = params.get("filter");
    $("filter").dispatchEvent(new Event("input"));
  }
}

$("host").addEventListener("change", () => { extraFiles = []; checked.clear(); notice(""); renderFiles(); syncUrl(); });
$("filter").addEventListener("input", syncUrl);
$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
$("custom-add").addEventListener("click", () => addFile($("custom-path").value, $("custom-name").value));
$("browse").addEventListener("click", browse);
window.addEventListener("beforeunload", () => { if (socket) socket.close(); });
load();
