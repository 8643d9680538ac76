// The log viewer shared by the live-tail page and the synced-logs page: pause and resume with a
// count of lines held, filter, errors and warnings highlighted, a search term marked, download
// of what was received, clear.
//
// Responsiveness at thousands of lines per second comes from four rules: lines are appended
// once per animation frame in one fragment; lines sit in blocks of BLOCK lines whose rendering
// the browser skips while they are off screen (`content-visibility: auto`), so 100,000 lines in
// the view cost layout and paint for only the blocks on screen; the view keeps at most
// `options.maxShown` lines (MAX_SHOWN by default; the oldest blocks are removed whole); the
// download buffer keeps at most MAX_KEPT lines (older ones are dropped and counted). In split
// view the blocks give way to the grid (`display: contents`), so every line is laid out.
//
// Scroll-back (pages that give `options.loadOlder`): scrolling to the top, or the Older button,
// loads the lines stored before the oldest line shown, above it. Each line carries its cursor
// (`SEQ.INDEX` in its stream) and a key (the subject filter its history is read from); the
// boundary of a key is the cursor of its topmost line in the view, or, when trimming removed
// them all, the place just after the newest one removed. History before that boundary is
// exactly what the view lacks, so the seam has no gap and no repeat. While the user reads
// older lines (not at the bottom), new lines are appended without scrolling or trimming, and a
// "N new lines" button says how many arrived below.
//
// Reading aids: filter and exclude by text or /regex/ (matches marked), a level filter (errors,
// warnings and above), wrap, line numbers and receive times, jump to the next or previous
// error, hide a source (click its [name]) or show it alone (shift-click), split (a column per
// source, side by side, scrolled together), and keys for each (listed on the page).
//
// Split is a CSS grid over the same lines: each line is placed in its source's column and the
// grid packs every column from the top (`dense`), so nothing is rebuilt when it is switched.
//
// Download saves the lines received (at most MAX_KEPT); Download all (pages that give
// `options.loadRange`) reads every stored line of each key from the oldest line the view reached
// (its context or scroll-back) to the newest received, from history, so nothing the view
// dropped is missing.
//
// Line links (pages with scroll-back): the line under the pointer offers a link to itself, this
// page's URL (which carries the view's state) and `#L{cursor}`. Opened, the page loads older
// lines until that line is in the view, scrolls to it and marks it; one not in the stored
// history (removed by the stream's limits) is said so.
import { compareCursors, el } from "./app.js";

const MAX_SHOWN = 100000;
// Lines per block: small enough that the blocks on screen are cheap to lay out, big enough that
// a view of 100,000 lines has few.
const BLOCK = 250;
const MAX_KEPT = 200000;
// How many more lines the view may hold while the user reads back, before the oldest are
// trimmed anyway.
const READING_SLACK = 1.5;
// glog (E1122 10:00:00), log4j/syslog words, Python tracebacks.
const ERROR_RE = /^[EF]\d{4} |\b(ERROR|FATAL|CRITICAL|SEVERE|PANIC|Traceback)\b/i;
const WARN_RE = /^W\d{4} |\bWARN(ING)?\b/i;

const $ = (id) => document.getElementById(id);

// A line's severity class: its source's own priority (a journal entry's, syslog's 0–7) when it
// has one, else the words of its text.
function lineClass(line, priority) {
  if (priority !== undefined && priority !== null) {
    return priority <= 3 ? "ln error" : priority === 4 ? "ln warn" : "ln";
  }
  if (ERROR_RE.test(line)) return "ln error";
  if (WARN_RE.test(line)) return "ln warn";
  return "ln";
}

// `line` as text and <mark> elements around every match of `re` (a RegExp with the g flag).
export function marked(line, re) {
  if (!re) return [line];
  // matchAll starts where the expression's last test() left it.
  re.lastIndex = 0;
  const parts = [];
  let last = 0;
  for (const m of line.matchAll(re)) {
    if (!m[0]) continue;
    parts.push(line.slice(last, m.index), el("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  parts.push(line.slice(last));
  return parts;
}

// A filter field's value as a test: `/re/flags` is a regular expression (case-insensitive
// unless flags are given), anything else a case-insensitive substring. An invalid expression
// marks its field and tests nothing.
function pattern(input) {
  const v = input?.value ?? "";
  input?.classList.remove("invalid");
  if (input) input.title = "";
  if (!v) return null;
  const m = v.match(/^\/(.+)\/([a-z]*)$/);
  try {
    const re = m ? new RegExp(m[1], `${(m[2] || "i").replace("g", "")}g`) : new RegExp(v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
    return re;
  } catch (e) {
    input.classList.add("invalid");
    input.title = e.message;
    return null;
  }
}

// Multi-line events (stack traces): whether `line` continues the event of the line before it
// from the same source. The rules of the processors' `line::continuation` (Rust), so the view
// groups what the issue table counts as one event: indentation, the lines that open a nested
// part, and inside a trace the exception and Go frame lines.
const OPENERS = ["Caused by:", "Suppressed:", "Traceback (most recent call last):", "During handling of the above exception",
  "The above exception was the direct cause", "stack backtrace:", "note: run with `RUST_BACKTRACE", "created by "];

export function continues(line, prev) {
  if (!prev) return false;
  if (prev.announces || line === "") return true;
  if (line[0] === " " || line[0] === "\t") return line.trim() !== "" || prev.inTrace;
  if (OPENERS.some((o) => line.startsWith(o)) || /^goroutine \d+ \[/.test(line) || /^\.\.\. \d+ more$/.test(line)) return true;
  return prev.inTrace && (/^[\w.$]+(Error|Exception|Exit|Interrupt|Warning|Throwable)(:|$)/.test(line) || /^[^\s(]*\.[^\s(]*\(.*\)$/.test(line));
}

function after(line, continued) {
  return { inTrace: continued, announces: line.includes(" panicked at ") && line.trimEnd().endsWith(":") };
}

// The time a line states near its start: the shapes of `schemas::line_time` (Rust), so the view
// reads the times the file index does. ISO 8601 / RFC 3339, Apache and nginx, glog, syslog and
// Unix seconds; no zone is UTC; a year left out is this year's, or last year's when that would
// put the line more than a day ahead.
const MONTHS = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const ISO_TIME = /(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?: ?(Z|[+-]\d{2}:?\d{2}))?/;
const CLF_TIME = /(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?/;
const GLOG_TIME = /^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?/;
const SYSLOG_TIME = /\b([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\b/;
const EPOCH_TIME = /^\[?(1[5-9]\d{8})(?:\.(\d{1,9}))?\b/;

export function statedTime(line) {
  const head = line.slice(0, 64);
  const ms = (f) => (f ? Number(`${f}00`.slice(0, 3)) : 0);
  const zone = (z) => {
    if (!z || z === "Z") return 0;
    const d = z.slice(1).replace(":", "");
    return (z[0] === "-" ? -1 : 1) * (Number(d.slice(0, 2)) * 60 + Number(d.slice(2, 4))) * 60000;
  };
  const yearless = (month, day, h, mi, se, f) => {
    const now = Date.now();
    let year = new Date(now).getUTCFullYear();
    if (Date.UTC(year, month, day, h, mi, se) > now + 86400000) year -= 1;
    return new Date(Date.UTC(year, month, day, h, mi, se, ms(f)));
  };
  // Out-of-range parts are not a time (Date.UTC would roll them over into another one).
  const valid = (month, day, h, mi, se) => month >= 0 && month < 12 && day >= 1 && day <= 31 && h < 24 && mi < 60 && se < 61;
  let m;
  if ((m = head.match(ISO_TIME))) {
    if (!valid(+m[2] - 1, +m[3], +m[4], +m[5], +m[6])) return null;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms(m[7])) - zone(m[8]));
  }
  if ((m = head.match(CLF_TIME)) && m[2] in MONTHS) {
    if (!valid(MONTHS[m[2]], +m[1], +m[4], +m[5], +m[6])) return null;
    return new Date(Date.UTC(+m[3], MONTHS[m[2]], +m[1], +m[4], +m[5], +m[6]) - zone(m[7]));
  }
  if ((m = head.match(GLOG_TIME))) return valid(+m[1] - 1, +m[2], +m[3], +m[4], +m[5]) ? yearless(+m[1] - 1, +m[2], +m[3], +m[4], +m[5], m[6]) : null;
  if ((m = head.match(SYSLOG_TIME)) && m[1] in MONTHS) return valid(MONTHS[m[1]], +m[2], +m[3], +m[4], +m[5]) ? yearless(MONTHS[m[1]], +m[2], +m[3], +m[4], +m[5], m[6]) : null;
  if ((m = head.match(EPOCH_TIME))) return new Date(Number(m[1]) * 1000 + ms(m[2]));
  return null;
}

function timeOf(d) {
  return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0");
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
    this.lineNo = 0;
    this.lastOf = new Map(); // name -> the event div its next line may continue, and that line's state
    this.unseen = 0;
    this.hiddenNames = new Set();
    this.range = new Map(); // key -> {from, to}: the cursors of its oldest line reached and newest received
    this.columns = new Map(); // name -> its column in split view
    this.maxShown = Math.max(BLOCK, options.maxShown || MAX_SHOWN);
    this.shown = 0; // lines in the view
    // Whether the view follows the newest line: until the reader scrolls away from the bottom,
    // and again once they scroll back to it (blocks the browser sizes as they leave the screen
    // must not count as the reader scrolling).
    this.pinned = true;
    this.scrolledTo = 0;
    for (const k of ["exclude", "level", "wrap", "numbers", "times", "split", "hiddenNames"]) {
      ids[k] ??= k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    }
    ids.prevError ??= "prev-error";
    ids.nextError ??= "next-error";
    this.include = null;
    this.excludeRe = null;
    $(ids.pause)?.addEventListener("click", () => this.togglePause());
    $(ids.filter)?.addEventListener("input", () => this.refilter());
    $(ids.exclude)?.addEventListener("input", () => this.refilter());
    $(ids.level)?.addEventListener("change", () => this.refilter());
    const view = $(ids.view);
    const option = (id, cls, on) => {
      const box = $(id);
      if (!box) return;
      const apply = () => view.classList.toggle(cls, box.checked === on);
      box.addEventListener("change", apply);
      apply();
    };
    option(ids.wrap, "nowrap", false);
    option(ids.numbers, "numbers", true);
    option(ids.times, "times", true);
    option(ids.split, "split", true);
    $(ids.prevError)?.addEventListener("click", () => this.jumpToError(-1));
    $(ids.nextError)?.addEventListener("click", () => this.jumpToError(1));
    // The "N new lines" button, over the bottom of the view while the user reads above.
    this.newLines = el("button", { type: "button", class: "new-lines", id: `${ids.view}-new-lines` }, "");
    this.newLines.hidden = true;
    this.newLines.addEventListener("click", () => this.follow());
    view.after(this.newLines);
    view.addEventListener("scroll", () => {
      const bottom = view.scrollHeight - view.scrollTop - view.clientHeight < 40;
      if (Math.abs(view.scrollTop - this.scrolledTo) > 1) this.pinned = bottom;
      if (bottom) this.seen();
    });
    view.addEventListener("click", (e) => {
      const src = e.target.closest?.(".src");
      if (!src) return;
      const name = src.parentElement.dataset.name;
      if (e.shiftKey) this.solo(name);
      else this.toggleName(name);
    });
    document.addEventListener("keydown", (e) => this.onKey(e));
    $(ids.download)?.addEventListener("click", () => this.download());
    ids.downloadAll ??= "download-all";
    const all = $(ids.downloadAll);
    if (all) {
      all.hidden = !options.loadRange;
      all.addEventListener("click", () => this.downloadAll());
    }
    $(ids.clear)?.addEventListener("click", () => this.clear());
    if (options.loadOlder) {
      // One button for every line, moved to the line under the pointer (an element per line
      // would cost at thousands of lines a second).
      this.linkButton = el("button", { type: "button", class: "line-link", id: `${ids.view}-line-link`, title: "copy a link to this line" }, "link");
      this.linkButton.hidden = true;
      view.after(this.linkButton);
      view.addEventListener("mouseover", (e) => {
        const div = e.target.closest?.(".ln[data-cursor]");
        if (!div || div.parentElement?.parentElement !== view) return;
        const box = div.getBoundingClientRect();
        const right = Math.min(box.right, view.getBoundingClientRect().right);
        this.linkButton.dataset.cursor = div.dataset.cursor;
        this.linkButton.style.top = `${box.top}px`;
        this.linkButton.style.left = `${right - 44}px`;
        this.linkButton.hidden = false;
      });
      view.addEventListener("scroll", () => { this.linkButton.hidden = true; });
      this.linkButton.addEventListener("click", () => this.copyLink(this.linkButton.dataset.cursor));
      this.wanted = location.hash.match(/^#L(\d+\.\d+)$/)?.[1] ?? null;
      $(ids.older)?.addEventListener("click", () => this.loadOlder());
      view.addEventListener("scroll", () => { if (view.scrollTop < 40) this.loadOlder(); });
      // A view too short to scroll still asks for more when the wheel turns up at its top.
      view.addEventListener("wheel", (e) => { if (e.deltaY < 0 && view.scrollTop === 0) this.loadOlder(); });
    }
  }

  // The cursor history of `key` is read before: that of its topmost line shown, else the place
  // after its newest trimmed line, else null (no line of it seen yet).
  boundary(key) {
    for (const div of this.lineDivs()) {
      if (div.dataset.key === key) return div.dataset.cursor;
    }
    return this.trimmed.get(key) ?? null;
  }

  // Every line element in the view, in order.
  lineDivs() {
    return $(this.ids.view).querySelectorAll(":scope > .blk > .ln");
  }

  // `divs` in blocks of at most BLOCK lines, as a fragment. A block not yet drawn is given the
  // height its lines would have unwrapped (the browser keeps its real one once drawn), so the
  // scrollbar and scrolling to a line are right before it is.
  blocks(divs) {
    const frag = document.createDocumentFragment();
    const sample = this.lineHeight || $(this.ids.view).querySelector(".blk > .ln:not(.event):not(.hidden)")?.offsetHeight;
    if (sample) this.lineHeight = sample;
    for (let i = 0; i < divs.length; i += BLOCK) {
      const block = el("div", { class: "blk" }, ...divs.slice(i, i + BLOCK));
      block.style.containIntrinsicSize = `auto ${Math.ceil(block.childElementCount * (this.lineHeight || 18))}px`;
      frag.append(block);
    }
    return frag;
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
    const frag = this.blocks(lines.map((l) => this.lineElement(l)));
    for (const l of lines) this.noteRange(l);
    const height = view.scrollHeight;
    view.prepend(frag);
    this.shown += lines.length;
    view.scrollTop += view.scrollHeight - height;
    this.kept.unshift(...lines.slice(-MAX_KEPT));
    if (this.kept.length > MAX_KEPT) this.kept.length = MAX_KEPT;
    this.updateCounts();
  }

  // Copies the link to the line with `cursor` (and says it, for a browser that refuses).
  async copyLink(cursor) {
    const link = `${location.origin}${location.pathname}${location.search}#L${cursor}`;
    this.lastLink = link;
    try {
      await navigator.clipboard.writeText(link);
      this.setStatus(`link copied: ${link}`);
    } catch {
      this.setStatus(`link to the line: ${link}`);
    }
  }

  // The line a link asked for: older lines are loaded until it is in the view (or history has
  // no more), then it is scrolled to and marked.
  async seek() {
    if (!this.wanted || this.seeking) return;
    this.seeking = true;
    const view = $(this.ids.view);
    try {
      for (let loads = 0; this.wanted && loads < 500;) {
        const div = [...this.lineDivs()].find((d) => d.dataset.cursor === this.wanted);
        if (div) {
          view.querySelector(".ln.current")?.classList.remove("current");
          div.classList.add("current", "target");
          // (The browser lays out the skipped blocks it passes, so the line lands where asked.)
          div.scrollIntoView({ block: "center" });
          this.scrolledBy(view);
          this.setStatus(`the linked line ${this.wanted}`);
          this.wanted = null;
        } else if (this.historyDone) {
          this.setStatus(`the linked line ${this.wanted} is not in the stored history`);
          this.wanted = null;
        } else if (this.loadingOlder) {
          await new Promise((r) => setTimeout(r, 50));
        } else {
          loads++;
          await this.loadOlder();
        }
      }
    } finally {
      this.seeking = false;
    }
  }

  // One received line: `{name, line}`.
  push(l) {
    this.received++;
    this.noteRange(l);
    l.at = { n: ++this.lineNo, t: new Date() };
    this.kept.push(l);
    if (this.kept.length > MAX_KEPT) {
      this.kept.splice(0, this.kept.length - MAX_KEPT);
      this.dropped = this.received - MAX_KEPT;
    }
    if (this.paused) {
      this.held.push(l);
      if (this.held.length > this.maxShown) this.held.splice(0, this.held.length - this.maxShown);
      this.updateCounts();
    } else {
      this.show(l);
    }
  }

  // Marks every match of `re` (a RegExp with the g flag) in the lines shown from now on.
  setMark(re) {
    this.mark = re;
  }

  // Widens its key's range to a line with a cursor.
  noteRange({ key, cursor }) {
    if (cursor === undefined) return;
    const r = this.range.get(key);
    if (!r) this.range.set(key, { from: cursor, to: cursor });
    else {
      if (compareCursors(cursor, r.from) < 0) r.from = cursor;
      if (compareCursors(cursor, r.to) > 0) r.to = cursor;
    }
  }

  clear() {
    this.range.clear();
    const view = $(this.ids.view);
    for (const div of this.lineDivs()) this.noteTrimmed(div.dataset);
    view.replaceChildren();
    this.shown = 0;
    this.lastOf.clear();
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

  // Whether a line passes the filter, the exclusion, the level and the hidden sources.
  matches(line, cls, name) {
    if (this.hiddenNames.has(name)) return false;
    const level = $(this.ids.level)?.value;
    if (level === "error" && !cls.includes("error")) return false;
    if (level === "warn" && !cls.includes("error") && !cls.includes("warn")) return false;
    if (this.include) { this.include.lastIndex = 0; if (!this.include.test(line)) return false; }
    if (this.excludeRe) { this.excludeRe.lastIndex = 0; if (this.excludeRe.test(line)) return false; }
    return true;
  }

  lineElement({ name, line, cursor, key, at, priority }) {
    const label = this.options.colourOf
      ? [el("span", { class: "src", style: `color:${this.options.colourOf(name)}` }, `[${name}]`)]
      : [];
    const cls = lineClass(line, priority);
    // Line number and receive time as attributes the stylesheet shows when asked (no elements
    // per line: at thousands of lines a second, each one counts).
    const div = el("div", { class: cls }, ...label, ...marked(line, this.mark ?? this.include));
    div.dataset.n = at ? String(at.n) : "·";
    div.dataset.t = at ? timeOf(at.t) : "history";
    // The time the line states, in this browser's zone (shown beside the receive time).
    const stated = statedTime(line);
    if (stated && !Number.isNaN(stated.getTime())) div.dataset.s = timeOf(stated);
    div.dataset.line = line;
    if (name !== undefined) {
      div.dataset.name = name;
      let column = this.columns.get(name);
      if (column === undefined) {
        column = this.columns.size + 1;
        this.columns.set(name, column);
        $(this.ids.view).style.setProperty("--columns", String(column));
      }
      div.style.gridColumn = String(column);
    }
    if (cursor !== undefined) {
      div.dataset.cursor = cursor;
      div.dataset.key = key;
    }
    if (!this.matches(line, cls, name)) div.classList.add("hidden");
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
  // it trims the view to `maxShown` lines and scrolls down; reading back, it only appends (up to
  // half as many again).
  flush() {
    const batch = this.pending;
    this.pending = [];
    const view = $(this.ids.view);
    const following = (!this.ids.autoscroll || $(this.ids.autoscroll).checked) && this.pinned;
    const most = following ? this.maxShown : Math.round(this.maxShown * READING_SLACK);
    for (const l of batch.slice(0, Math.max(0, batch.length - most))) this.noteTrimmed(l);
    const fresh = [];
    const built = new Set();
    for (const l of batch.slice(-most)) {
      const last = this.lastOf.get(l.name);
      // (A trimmed event is gone; one built this frame is not in the page yet.)
      const cont = continues(l.line, last?.prev) && (last.div.isConnected || built.has(last.div));
      if (cont) this.addContinuation(last.div, l);
      else {
        const div = this.lineElement(l);
        fresh.push(div);
        built.add(div);
        this.lastOf.set(l.name, { div, prev: null });
      }
      this.lastOf.get(l.name).prev = after(l.line, cont);
    }
    // The newest block is filled up before new ones are made.
    const tail = view.lastElementChild;
    const room = tail ? BLOCK - tail.childElementCount : 0;
    if (room > 0 && fresh.length) tail.append(...fresh.slice(0, room));
    view.append(this.blocks(fresh.slice(Math.max(0, room))));
    this.shown += fresh.length;
    this.trim(view, most);
    if (following) {
      view.scrollTop = view.scrollHeight;
      this.scrolledTo = view.scrollTop;
    } else if (batch.length) {
      this.unseen += batch.length;
      this.newLines.textContent = `${this.unseen.toLocaleString()} new line${this.unseen === 1 ? "" : "s"} ↓`;
      this.newLines.hidden = false;
    }
    this.updateCounts();
    if (this.wanted && batch.length) this.seek();
  }

  // Removes the oldest lines beyond `most`: whole blocks, then the first lines of the oldest
  // block left, each in one operation. History of each key then starts after the newest line
  // of it removed.
  trim(view, most) {
    while (this.shown > most && view.firstElementChild) {
      const block = view.firstElementChild;
      const n = Math.min(this.shown - most, block.childElementCount);
      const newest = new Map();
      let last = block.firstElementChild;
      for (let k = 0; k < n; k++) {
        if (k > 0) last = last.nextElementSibling;
        if (last.dataset.key !== undefined) newest.set(last.dataset.key, last);
      }
      if (n === block.childElementCount) block.remove();
      else {
        const range = document.createRange();
        range.setStartBefore(block.firstElementChild);
        range.setEndAfter(last);
        range.deleteContents();
      }
      this.shown -= n;
      for (const div of newest.values()) this.noteTrimmed(div.dataset);
    }
  }

  // A continuation line joins its event: shown under the first line, collapsible there.
  addContinuation(div, l) {
    let body = div.querySelector(":scope > .cont");
    if (!body) {
      const toggle = el("button", { type: "button", class: "fold", title: "collapse or expand the event" }, "▾");
      toggle.addEventListener("click", () => {
        div.classList.toggle("collapsed");
        toggle.textContent = div.classList.contains("collapsed") ? "▸" : "▾";
      });
      div.prepend(toggle);
      body = el("div", { class: "cont" });
      div.append(body);
      div.classList.add("event");
    }
    body.append(el("div", {}, l.line));
    div.dataset.text = `${div.dataset.text ?? div.dataset.line}\n${l.line}`;
    if (l.cursor !== undefined) div.dataset.lastCursor = l.cursor;
    div.classList.toggle("hidden", !this.matches(div.dataset.text, div.className, l.name));
  }

  // A line leaving (or never entering) the view: history of its key now starts after it.
  noteTrimmed({ cursor, lastCursor, key }) {
    cursor = lastCursor ?? cursor;
    if (cursor === undefined) return;
    const [seq, index] = cursor.split(".");
    const after = `${seq}.${Number(index) + 1}`;
    // Only forward: lines dropped unseen from a big frame are newer than those trimmed off.
    const known = this.trimmed.get(key);
    if (!known || Number(seq) > Number(known.split(".")[0]) || (Number(seq) === Number(known.split(".")[0]) && Number(index) + 1 > Number(known.split(".")[1]))) {
      this.trimmed.set(key, after);
    }
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
    this.include = pattern($(this.ids.filter));
    this.excludeRe = pattern($(this.ids.exclude));
    const mark = this.mark ?? this.include;
    // Marks change only with the filter's text: a level, an exclusion or a hidden source only
    // hides lines (which, at 100,000 lines, is what keeps the change quick).
    const remark = String(mark) !== String(this.shownMark ?? null);
    this.shownMark = mark;
    for (const div of this.lineDivs()) {
      const line = div.dataset.line ?? "";
      div.classList.toggle("hidden", !this.matches(div.dataset.text ?? line, div.className, div.dataset.name));
      if (!remark) continue;
      // Marks follow the filter: the line's text is rebuilt between its gutter and label and
      // its continuation lines.
      const keep = [...div.children].filter((c) => ["fold", "src"].some((k) => c.classList.contains(k)));
      const cont = div.querySelector(":scope > .cont");
      div.replaceChildren(...keep, ...marked(line, mark), ...(cont ? [cont] : []));
    }
    // A block off screen keeps the height it had; after a filter it is given that of the lines it
    // still shows (and none when it shows none), so the scrollbar is right before it is drawn.
    for (const block of $(this.ids.view).children) {
      let shown = 0;
      for (const div of block.children) if (!div.classList.contains("hidden")) shown++;
      block.classList.toggle("empty", shown === 0);
      block.style.containIntrinsicSize = `${Math.ceil(shown * (this.lineHeight || 18))}px`;
    }
    const hidden = $(this.ids.hiddenNames);
    if (hidden) {
      hidden.replaceChildren();
      if (this.hiddenNames.size) {
        const all = el("button", { type: "button" }, "show all");
        all.addEventListener("click", () => { this.hiddenNames.clear(); this.refilter(); });
        hidden.append(`hidden: ${[...this.hiddenNames].join(", ")} `, all);
      }
    }
  }

  toggleName(name) {
    if (this.hiddenNames.has(name)) this.hiddenNames.delete(name); else this.hiddenNames.add(name);
    this.refilter();
  }

  // Only `name`'s lines: every other source seen is hidden.
  solo(name) {
    const names = new Set([...this.lineDivs()].map((d) => d.dataset.name).filter(Boolean));
    this.hiddenNames = new Set([...names].filter((n) => n !== name));
    this.refilter();
  }

  // Scrolls to the next (dir 1) or previous (-1) visible error line from the current one, or
  // from what is on screen.
  jumpToError(dir) {
    const view = $(this.ids.view);
    const errors = [...view.querySelectorAll(".ln.error:not(.hidden)")];
    if (!errors.length) return;
    const current = view.querySelector(".ln.current");
    // Positions in the view's content, from the boxes on screen: a block's layout containment
    // makes it its lines' offsetParent.
    const origin = view.getBoundingClientRect().top - view.scrollTop;
    const top = (e) => e.getBoundingClientRect().top - origin;
    const from = current ? top(current) : dir > 0 ? view.scrollTop - 1 : view.scrollTop + view.clientHeight;
    // A line's own position is asked only in the block that straddles `from`: asking it of a
    // line in a block off screen would have the browser lay out the block it skips. In split
    // view the blocks have no box of their own (the grid places the lines).
    const boxed = !view.classList.contains("split");
    const below = (d) => {
      const b = d.parentElement;
      if (boxed && top(b) > from) return true;
      if (boxed && top(b) + b.offsetHeight <= from) return false;
      return top(d) > from;
    };
    const above = (d) => {
      const b = d.parentElement;
      if (boxed && top(b) + b.offsetHeight < from) return true;
      if (boxed && top(b) >= from) return false;
      return top(d) < from;
    };
    const target = dir > 0 ? errors.find(below) : errors.reverse().find(above);
    if (!target) return;
    current?.classList.remove("current");
    target.classList.add("current");
    target.scrollIntoView({ block: "center" });
    this.scrolledBy(view);
  }

  // The page scrolled the view itself (to a linked line, to an error): following the end stops
  // now unless that is the end, not when the scroll event comes, so lines arriving before it
  // do not take the view back to the end.
  scrolledBy(view) {
    this.scrolledTo = view.scrollTop;
    this.pinned = view.scrollHeight - view.scrollTop - view.clientHeight < 40;
  }

  follow() {
    const view = $(this.ids.view);
    view.scrollTop = view.scrollHeight;
    this.scrolledTo = view.scrollTop;
    this.pinned = true;
    this.seen();
  }

  seen() {
    this.unseen = 0;
    this.newLines.hidden = true;
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest?.("input, select, textarea")) return;
    const act = {
      "/": () => $(this.ids.filter)?.focus(),
      " ": () => { if (!$(this.ids.pause)?.disabled) this.togglePause(); },
      n: () => this.jumpToError(1),
      p: () => this.jumpToError(-1),
      w: () => this.flip(this.ids.wrap),
      s: () => this.flip(this.ids.split),
      End: () => this.follow(),
    }[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  }

  // Flips an option's checkbox as a click would.
  flip(id) {
    const box = $(id);
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
  }

  download() {
    this.save(this.kept);
  }

  async downloadAll() {
    const button = $(this.ids.downloadAll);
    if (button) button.disabled = true;
    try {
      let all = [];
      for (const [key, { from, to }] of this.range) {
        const done = all.length;
        const lines = await this.options.loadRange(key, from, to, (n) => this.setStatus(`downloading: ${(done + n).toLocaleString()} lines…`));
        all = all.concat(lines);
      }
      all.sort((a, b) => compareCursors(a.cursor, b.cursor));
      this.save(all);
      this.setStatus(`downloaded ${all.length.toLocaleString()} lines`);
    } catch (e) {
      this.setStatus(`cannot download: ${e.message}`);
    } finally {
      if (button) button.disabled = false;
    }
  }

  save(lines) {
    const label = this.options.colourOf ? (l) => `[${l.name}] ` : () => "";
    const text = lines.map((l) => `${label(l)}${l.line}\n`).join("");
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
