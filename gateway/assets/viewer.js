// The log viewer shared by the live-tail page and the synced-logs page: pause and resume with a
// count of lines held, filter, errors and warnings highlighted, a search term marked, download
// of what was received, clear.
//
// Responsiveness at thousands of lines per second comes from three rules: lines are appended
// once per animation frame in one fragment; the DOM keeps at most MAX_SHOWN lines (older ones
// are removed); the download buffer keeps at most MAX_KEPT lines (older ones are dropped and
// counted).
import { el } from "./app.js";

const MAX_SHOWN = 5000;
const MAX_KEPT = 200000;
// glog (E1122 10:00:00), log4j/syslog words, Python tracebacks.
const ERROR_RE = /^[EF]\d{4} |\b(ERROR|FATAL|CRITICAL|SEVERE|PANIC|Traceback)\b/i;
const WARN_RE = /^W\d{4} |\bWARN(ING)?\b/i;

const $ = (id) => document.getElementById(id);

function lineClass(line) {
  if (ERROR_RE.test(line)) return "ln error";
  if (WARN_RE.test(line)) return "ln warn";
  return "ln";
}

// `line` as text and <mark> elements around every match of `re` (a RegExp with the g flag).
export function marked(line, re) {
  if (!re) return [line];
  const parts = [];
  let last = 0;
  for (const m of line.matchAll(re)) {
    if (!m[0]) break;
    parts.push(line.slice(last, m.index), el("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  parts.push(line.slice(last));
  return parts;
}

export class LogViewer {
  // `ids`: the element ids of the view and its controls (view, pause, held, autoscroll, filter,
  // download, clear, counts). `options.colourOf(name)` colours a line's source label (no label
  // when absent); `options.fileName()` names a download.
  constructor(ids, options = {}) {
    this.ids = ids;
    this.options = options;
    this.paused = false;
    this.held = [];
    this.pending = [];
    this.kept = [];
    this.dropped = 0;
    this.received = 0;
    this.mark = null;
    this.frameRequested = false;
    $(ids.pause)?.addEventListener("click", () => this.togglePause());
    $(ids.filter)?.addEventListener("input", () => this.refilter());
    $(ids.download)?.addEventListener("click", () => this.download());
    $(ids.clear)?.addEventListener("click", () => this.clear());
  }

  // One received line: `{name, line}`.
  push(l) {
    this.received++;
    this.kept.push(l);
    if (this.kept.length > MAX_KEPT) {
      this.kept.splice(0, this.kept.length - MAX_KEPT);
      this.dropped = this.received - MAX_KEPT;
    }
    if (this.paused) {
      this.held.push(l);
      if (this.held.length > MAX_SHOWN) this.held.splice(0, this.held.length - MAX_SHOWN);
      this.updateCounts();
    } else {
      this.show(l);
    }
  }

  // Marks every match of `re` (a RegExp with the g flag) in the lines shown from now on.
  setMark(re) {
    this.mark = re;
  }

  clear() {
    $(this.ids.view).replaceChildren();
    this.kept = [];
    this.held = [];
    this.pending = [];
    this.received = 0;
    this.dropped = 0;
    this.updateCounts();
  }

  setPaused(on) {
    if (on !== this.paused) this.togglePause();
  }

  togglePause() {
    this.paused = !this.paused;
    const button = $(this.ids.pause);
    if (button) button.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) {
      const release = this.held;
      this.held = [];
      for (const l of release) this.show(l);
    }
    this.updateCounts();
  }

  matchesFilter(line) {
    const f = $(this.ids.filter)?.value;
    return !f || line.toLowerCase().includes(f.toLowerCase());
  }

  lineElement({ name, line }) {
    const label = this.options.colourOf
      ? [el("span", { class: "src", style: `color:${this.options.colourOf(name)}` }, `[${name}]`)]
      : [];
    const div = el("div", { class: lineClass(line) }, ...label, ...marked(line, this.mark));
    div.dataset.line = line;
    if (!this.matchesFilter(line)) div.classList.add("hidden");
    return div;
  }

  show(l) {
    this.pending.push(l);
    if (!this.frameRequested) {
      this.frameRequested = true;
      requestAnimationFrame(() => { this.frameRequested = false; this.flush(); });
    }
  }

  // Appends what arrived since the last frame, then trims the view to MAX_SHOWN lines.
  flush() {
    const batch = this.pending;
    this.pending = [];
    const view = $(this.ids.view);
    const frag = document.createDocumentFragment();
    for (const l of batch.slice(-MAX_SHOWN)) frag.append(this.lineElement(l));
    view.append(frag);
    let excess = view.childElementCount - MAX_SHOWN;
    while (excess-- > 0) view.firstElementChild.remove();
    if (!this.ids.autoscroll || $(this.ids.autoscroll).checked) view.scrollTop = view.scrollHeight;
    this.updateCounts();
  }

  updateCounts() {
    const held = $(this.ids.held);
    if (held) held.textContent = this.paused ? `paused · ${this.held.length.toLocaleString()} held` : "";
    const counts = $(this.ids.counts);
    if (counts) {
      counts.textContent = `${this.received.toLocaleString()} received${this.dropped ? ` · ${this.dropped.toLocaleString()} oldest not kept for download` : ""}`;
    }
  }

  refilter() {
    for (const div of $(this.ids.view).children) {
      div.classList.toggle("hidden", !this.matchesFilter(div.dataset.line ?? ""));
    }
  }

  download() {
    const label = this.options.colourOf ? (l) => `[${l.name}] ` : () => "";
    const text = this.kept.map((l) => `${label(l)}${l.line}\n`).join("");
    const name = this.options.fileName ? this.options.fileName() : "tailrace";
    const a = el("a", {
      href: URL.createObjectURL(new Blob([text], { type: "text/plain" })),
      download: `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`,
    });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
}
