// The log viewer shared by the live-tail page and the synced-logs page: pause and resume with a
// count of lines held, filter, errors and warnings highlighted, a search term marked, download
// of what was received, clear.
//
// Responsiveness at thousands of lines per second comes from three rules: lines are appended
// once per animation frame in one fragment; the DOM keeps at most MAX_SHOWN lines (older ones
// are removed); the download buffer keeps at most MAX_KEPT lines (older ones are dropped and
// counted).
//
// Scroll-back (pages that give `options.loadOlder`): scrolling to the top, or the Older button,
// loads the lines stored before the oldest line shown, above it. Each line carries its cursor
// (`SEQ.INDEX` in its stream) and a key (the subject filter its history is read from); the
// boundary of a key is the cursor of its topmost line in the view, or, when trimming removed
// them all, the place just after the newest one removed. History before that boundary is
// exactly what the view lacks, so the seam has no gap and no repeat. While the user reads
// older lines (not at the bottom), new lines are appended without scrolling or trimming.
import { el } from "./app.js";

const MAX_SHOWN = 5000;
const MAX_KEPT = 200000;
// Lines the view may hold while the user reads back, before the oldest are trimmed anyway.
const MAX_SHOWN_READING = 50000;
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
  // download, clear, counts, older). `options.colourOf(name)` colours a line's source label (no
  // label when absent); `options.fileName()` names a download; `options.loadOlder(boundary)`
  // returns `{lines, done}`: lines (oldest first, each `{name, line, cursor, key}`) stored
  // before `boundary(key)` for the keys it reads, and whether history has no more.
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
    this.trimmed = new Map(); // key -> the cursor just after its newest trimmed line
    this.loadingOlder = false;
    this.historyDone = false;
    $(ids.pause)?.addEventListener("click", () => this.togglePause());
    $(ids.filter)?.addEventListener("input", () => this.refilter());
    $(ids.download)?.addEventListener("click", () => this.download());
    $(ids.clear)?.addEventListener("click", () => this.clear());
    if (options.loadOlder) {
      const view = $(ids.view);
      $(ids.older)?.addEventListener("click", () => this.loadOlder());
      view.addEventListener("scroll", () => { if (view.scrollTop < 40) this.loadOlder(); });
      // A view too short to scroll still asks for more when the wheel turns up at its top.
      view.addEventListener("wheel", (e) => { if (e.deltaY < 0 && view.scrollTop === 0) this.loadOlder(); });
    }
  }

  // The cursor history of `key` is read before: that of its topmost line shown, else the place
  // after its newest trimmed line, else null (no line of it seen yet).
  boundary(key) {
    for (const div of $(this.ids.view).children) {
      if (div.dataset.key === key) return div.dataset.cursor;
    }
    return this.trimmed.get(key) ?? null;
  }

  setStatus(text) {
    const older = $(this.ids.older);
    if (older) older.title = text;
    const status = $(this.ids.historyStatus);
    if (status) status.textContent = text;
  }

  async loadOlder() {
    if (this.loadingOlder || this.historyDone || !this.options.loadOlder) return;
    this.loadingOlder = true;
    this.setStatus("loading older lines…");
    try {
      const { lines, done } = await this.options.loadOlder((key) => this.boundary(key));
      this.prepend(lines);
      this.historyDone = done;
      this.setStatus(done ? "the beginning of the stored history" : "");
      const older = $(this.ids.older);
      if (older) older.disabled = done;
    } catch (e) {
      this.setStatus(`cannot load older lines: ${e.message}`);
    } finally {
      this.loadingOlder = false;
    }
  }

  // Lines stored before those shown (oldest first), put above them without moving what the
  // user is looking at.
  prepend(lines) {
    if (!lines.length) return;
    const view = $(this.ids.view);
    const frag = document.createDocumentFragment();
    for (const l of lines) frag.append(this.lineElement(l));
    const height = view.scrollHeight;
    view.prepend(frag);
    view.scrollTop += view.scrollHeight - height;
    this.kept.unshift(...lines.slice(-MAX_KEPT));
    if (this.kept.length > MAX_KEPT) this.kept.length = MAX_KEPT;
    this.updateCounts();
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
    const view = $(this.ids.view);
    for (const div of view.children) this.noteTrimmed(div.dataset);
    view.replaceChildren();
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

  lineElement({ name, line, cursor, key }) {
    const label = this.options.colourOf
      ? [el("span", { class: "src", style: `color:${this.options.colourOf(name)}` }, `[${name}]`)]
      : [];
    const div = el("div", { class: lineClass(line) }, ...label, ...marked(line, this.mark));
    div.dataset.line = line;
    if (cursor !== undefined) {
      div.dataset.cursor = cursor;
      div.dataset.key = key;
    }
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

  // Appends what arrived since the last frame. Following the end (autoscroll, at the bottom),
  // it trims the view to MAX_SHOWN lines and scrolls down; reading back, it only appends.
  flush() {
    const batch = this.pending;
    this.pending = [];
    const view = $(this.ids.view);
    const atBottom = view.scrollHeight - view.scrollTop - view.clientHeight < 40;
    const following = (!this.ids.autoscroll || $(this.ids.autoscroll).checked) && atBottom;
    const most = following ? MAX_SHOWN : MAX_SHOWN_READING;
    const frag = document.createDocumentFragment();
    for (const l of batch.slice(0, Math.max(0, batch.length - most))) this.noteTrimmed(l);
    for (const l of batch.slice(-most)) frag.append(this.lineElement(l));
    view.append(frag);
    let excess = view.childElementCount - most;
    while (excess-- > 0) {
      const div = view.firstElementChild;
      this.noteTrimmed(div.dataset);
      div.remove();
    }
    if (following) view.scrollTop = view.scrollHeight;
    this.updateCounts();
  }

  // A line leaving (or never entering) the view: history of its key now starts after it.
  noteTrimmed({ cursor, key }) {
    if (cursor === undefined) return;
    const [seq, index] = cursor.split(".");
    this.trimmed.set(key, `${seq}.${Number(index) + 1}`);
    this.historyDone = false;
    const older = $(this.ids.older);
    if (older) older.disabled = false;
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
