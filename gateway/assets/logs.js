// The synced-logs page: targets, services and files from the file index, a file's last lines
// in the shared log viewer, followed live over SSE (starting at the byte after what is shown,
// so nothing is missed or repeated; EventSource resumes by Last-Event-ID on its own), and
// search with the matches marked. The URL carries target, service, name, path and q.
import { api, el, formatBytes, withToken } from "./app.js";
import { LogViewer, marked } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  target: params.get("target") || "",
  service: params.get("service") || "",
  name: params.get("name") || "",
  path: params.get("path") || "",
  q: params.get("q") || "",
};
let open = null; // {target, path, next}: the file shown and the offset after its last line
let source = null; // the EventSource of a follow

const viewer = new LogViewer(
  { view: "log", pause: "pause", held: "held", autoscroll: "autoscroll", filter: "filter", download: "download", clear: "clear", counts: "counts" },
  { fileName: () => `tailrace-${(open?.path || "log").replace(/[^\w.-]+/g, "_")}` },
);

function setStatus(text, cls = "muted") {
  const p = $("status");
  p.className = `status ${cls}`;
  p.textContent = text;
}

function remember() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v) p.set(k, v);
  history.replaceState(null, "", `${location.pathname}${p.size ? `?${p}` : ""}`);
}

function query(extra = {}) {
  const p = new URLSearchParams();
  if (state.target) p.set("target", state.target);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== "") p.set(k, v);
  return p;
}

async function loadTargets() {
  const select = $("target");
  let names = [];
  try {
    const status = await api("/status");
    const sync = status.sync || [];
    names = sync.map((s) => s.target);
    const runs = sync.map((s) => `${s.target}: ${s.running ? "syncing" : s.last_run ? `last synced ${new Date(s.last_run).toLocaleString()}` : "not synced yet"}`);
    $("sync-status").textContent = runs.join(" · ");
  } catch (_) {
    // No status: the targets come from the files below.
  }
  select.replaceChildren(el("option", { value: "" }, "all"), ...names.map((n) => el("option", { value: n }, n)));
  if (state.target && !names.includes(state.target)) select.append(el("option", { value: state.target }, state.target));
  select.value = state.target;
}

async function loadServices() {
  const box = $("services");
  try {
    const { services } = await api("/api/v1/services/stats");
    const button = (name, label) => {
      const b = el("button", { type: "button", "data-service": name, "aria-pressed": String(state.service === name) }, label);
      b.addEventListener("click", () => { state.service = name; remember(); loadServices(); loadFiles(); });
      return b;
    };
    const total = services.reduce((n, s) => n + s.file_count, 0);
    box.replaceChildren(button("", `all (${total})`), ...services.map((s) => button(s.service, `${s.service} (${s.file_count} · ${formatBytes(s.total_size)})`)));
  } catch (e) {
    box.replaceChildren(el("span", { class: "error" }, `cannot list the services: ${e.message}`));
  }
}

async function loadFiles() {
  const body = $("files").querySelector("tbody");
  try {
    const { total, logs } = await api(`/api/v1/logs?${query({ service: state.service, name: state.name, limit: 1000 })}`);
    body.replaceChildren(...logs.map((f) => {
      const name = el("td", { class: "mono" }, f.path);
      if (f.copy === "compressed") name.append(" ", el("span", { class: "badge muted", title: "kept compressed by retention" }, "zst"));
      const tr = el("tr", { class: "file", "data-path": f.path, "data-target": f.target, title: `${f.target}: ${f.path}` },
        name, el("td", {}, f.category), el("td", { class: "num" }, formatBytes(f.size)),
        el("td", { class: "num" }, f.lines ?? ""), el("td", {}, new Date(f.modified).toLocaleString()));
      if (open && open.path === f.path && open.target === f.target) tr.setAttribute("aria-selected", "true");
      tr.addEventListener("click", () => openFile(f.target, f.path));
      return tr;
    }));
    $("files-summary").textContent = total > logs.length ? `${logs.length} of ${total} files` : `${total} files`;
  } catch (e) {
    body.replaceChildren();
    $("files-summary").textContent = `cannot list the files: ${e.message}`;
  }
}

function stopFollowing() {
  if (source) { source.close(); source = null; }
  $("follow").textContent = "Follow";
}

async function openFile(target, path) {
  stopFollowing();
  state.path = path;
  if (target) state.target = target;
  remember();
  for (const tr of $("files").querySelectorAll("tr.file")) {
    tr.setAttribute("aria-selected", String(tr.dataset.path === path && tr.dataset.target === target));
  }
  const n = Number($("lines").value) || 200;
  try {
    const c = await api(`/api/v1/logs/content?${query({ path, tail: n })}`);
    viewer.clear();
    // A last line without its newline is not complete yet: a follow sends it when it is.
    const complete = c.content.slice(0, c.content.lastIndexOf("\n") + 1);
    for (const line of complete.split("\n").slice(0, -1)) viewer.push({ name: path, line });
    open = { target: c.target, path, next: c.next_offset };
    $("file-title").textContent = `${c.target}: ${path} · ${formatBytes(c.size)}${c.compressed ? " · compressed" : ""}`;
    $("follow").disabled = false;
    setStatus(`last ${c.lines} lines`);
  } catch (e) {
    open = null;
    $("follow").disabled = true;
    setStatus(e.message, "error");
  }
}

function follow() {
  if (source) { stopFollowing(); setStatus("stopped following"); return; }
  if (!open) return;
  const p = new URLSearchParams({ target: open.target, path: open.path, offset: String(open.next), follow: "1" });
  source = new EventSource(withToken(`/api/v1/logs/content?${p}`));
  $("follow").textContent = "Unfollow";
  setStatus("following: new lines appear as the sync brings them");
  source.addEventListener("log", (m) => {
    const d = JSON.parse(m.data);
    open.next = Number(m.lastEventId);
    viewer.push({ name: d.path, line: d.line });
  });
  source.addEventListener("reset", () => setStatus("the file was truncated or replaced; showing it again from its last lines", "warn"));
  source.addEventListener("error", (m) => {
    if (m.data) {
      setStatus(JSON.parse(m.data).error, "error");
      stopFollowing();
    } else if (source && source.readyState === EventSource.CONNECTING) {
      setStatus("connection lost; reconnecting and resuming where it stopped", "warn");
    }
  });
  source.addEventListener("open", () => setStatus("following: new lines appear as the sync brings them"));
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function search(ev) {
  ev?.preventDefault();
  const q = $("q").value;
  state.q = q;
  remember();
  const list = $("results");
  if (!q) { list.hidden = true; viewer.setMark(null); $("search-summary").textContent = ""; return; }
  const regex = $("regex").checked;
  let mark;
  try { mark = new RegExp(regex ? q : escapeRegExp(q), "g"); } catch (_) { mark = null; }
  try {
    const r = await api(`/api/v1/logs/search?${query({ q, regex: regex ? "true" : "", service: state.service, limit: 200 })}`);
    list.replaceChildren(...r.matches.map((m) => {
      const line = el("span", {});
      line.append(...marked(m.line, mark));
      const li = el("li", { "data-path": m.path, title: [...m.before, m.line, ...m.after].join("\n") },
        el("span", { class: "where" }, `${m.target}: ${m.path}:${m.line_number}`), line);
      li.addEventListener("click", () => openFile(m.target, m.path));
      return li;
    }));
    list.hidden = false;
    viewer.setMark(mark);
    $("search-summary").textContent = `${r.total} matches in ${r.files_searched} files${r.truncated ? " (stopped early: narrow the search)" : ""}`;
  } catch (e) {
    list.hidden = true;
    $("search-summary").textContent = e.message;
    $("search-summary").className = "error";
  }
}

$("target").addEventListener("change", () => { state.target = $("target").value; remember(); loadFiles(); });
$("name").addEventListener("input", () => { state.name = $("name").value; remember(); loadFiles(); });
$("follow").addEventListener("click", follow);
$("search-form").addEventListener("submit", search);
window.addEventListener("beforeunload", stopFollowing);

$("name").value = state.name;
$("q").value = state.q;
await loadTargets();
await Promise.all([loadServices(), loadFiles()]);
if (state.path) await openFile(state.target, state.path);
if (state.q) await search();
