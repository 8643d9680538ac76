// Shared by every page: calls to the REST API with the bearer token, and the token field
// that appears when the gateway asks for one (401).

const TOKEN_KEY = "tailrace.token";

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

function askForToken() {
  const box = document.getElementById("auth");
  if (box) box.hidden = false;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// GET (or other method) a JSON endpoint; throws ApiError with the gateway's reason.
export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const t = token();
  if (t) headers.set("Authorization", `Bearer ${t}`);
  const resp = await fetch(path, { ...options, headers });
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
  if (resp.status === 401) askForToken();
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// A ws:// or wss:// URL of this gateway's `path`, with the token (sockets cannot send headers).
export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${withToken(path)}`;
}

export function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Builds an element: el("td", {class: "num"}, "12").
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

document.getElementById("auth-save")?.addEventListener("click", () => {
  localStorage.setItem(TOKEN_KEY, document.getElementById("auth-token").value.trim());
  location.reload();
});

// `path` with the token as `access_token` (EventSource and WebSocket cannot send headers).
export function withToken(path) {
  const t = token();
  const sep = path.includes("?") ? "&" : "?";
  return `${path}${t ? `${sep}access_token=${encodeURIComponent(t)}` : ""}`;
}

// Orders `SEQ.INDEX` cursors of one stream: by sequence, then index.
export function compareCursors(a, b) {
  const [sa, ia] = a.split(".").map(Number);
  const [sb, ib] = b.split(".").map(Number);
  return sa - sb || ia - ib;
}

// Every line of `subject` from cursor `from` to cursor `to` (both included), oldest first,
// read a page of 1,000 at a time; `progress(n)` after each page.
export async function historyRange(subject, from, to, nameOf, progress = () => {}) {
  const [seq, index] = from.split(".").map(Number);
  // `after` is exclusive: the line before `from` (a bare sequence stands for its whole message).
  let after = index > 0 ? `${seq}.${index - 1}` : String(seq - 1);
  const out = [];
  while (after !== null) {
    const p = new URLSearchParams({ subject, limit: "1000", after });
    const page = await api(`/api/v1/logs/history?${p}`);
    for (const l of page.lines.reverse()) {
      if (compareCursors(l.cursor, to) > 0) return out;
      out.push({ name: nameOf(l), line: l.line, cursor: l.cursor, key: subject, priority: l.priority });
    }
    progress(out.length);
    after = page.meta.nextPage;
  }
  return out;
}

// One page of `/api/v1/logs/history`: the lines of `subject` before the cursor `before` (all
// when null), oldest first, each `{name, line, cursor, key: subject}` with `name` from
// `nameOf(line)`, and whether older lines remain.
export async function historyBefore(subject, before, limit, nameOf) {
  const p = new URLSearchParams({ subject, limit: String(limit) });
  if (before) p.set("before", before);
  const page = await api(`/api/v1/logs/history?${p}`);
  const lines = page.lines.reverse().map((l) => ({ name: nameOf(l), line: l.line, cursor: l.cursor, key: subject, priority: l.priority }));
  return { lines, more: page.meta.previousPage !== null, startingFrom: page.meta.startingFrom };
}
