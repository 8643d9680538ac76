// The subject viewer: any subject, live over SSE (/api/v1/stream), in the shared log viewer.
// For subjects of lines it first reads the newest page of history and then subscribes from the
// sequence right after it (`startingFrom`), so nothing is missed or shown twice at the seam;
// scrolling up loads older pages before the oldest line shown.
import { historyBefore, historyRange, withToken } from "./app.js";
import { LogViewer } from "./viewer.js";

const FIRST_PAGE = 200;
const OLDER_PAGE = 500;
const COLOURS = ["#4ea1ff", "#5fd38d", "#f59e4a", "#c792ea", "#4fd1c5", "#ff8fa3", "#e6d36a", "#9fb4ff"];

const $ = (id) => document.getElementById(id);
const colours = new Map();
let source = null;
let subject = "";
let lines = false; // whether the subject holds lines (history and scroll-back)

function colourOf(name) {
  if (!colours.has(name)) colours.set(name, COLOURS[colours.size % COLOURS.length]);
  return colours.get(name);
}

// `host/source` of a line's subject (`logs.raw.H.S`, `logs.classified.C.L.H.S`).
function nameOf(lineSubject) {
  return lineSubject.split(".").slice(-2).join("/");
}

async function loadOlder(boundary) {
  const before = boundary(subject);
  if (!lines || !before) return { lines: [], done: true };
  const page = await historyBefore(subject, before, OLDER_PAGE, (l) => nameOf(l.subject));
  return { lines: page.lines, done: !page.more };
}

const viewer = new LogViewer(
  { view: "log", pause: "pause", held: "held", autoscroll: "autoscroll", filter: "filter", download: "download", clear: "clear", counts: "counts", older: "older", historyStatus: "history-status" },
  {
    colourOf,
    fileName: () => `tailrace-${subject.replace(/[^A-Za-z0-9_-]+/g, "_")}`,
    loadOlder,
    loadRange: (key, from, to, progress) => historyRange(key, from, to, (l) => nameOf(l.subject), progress),
    // `keep=N` in the link: lines the view holds (100,000 by default).
    maxShown: Number(new URLSearchParams(location.search).get("keep")) || undefined,
  },
);

function setStatus(text, cls = "muted") {
  const p = $("status");
  p.className = `status ${cls}`;
  p.textContent = text;
}

function onMessage(m) {
  const { subject: s, seq, payload } = JSON.parse(m.data);
  if (Array.isArray(payload?.lines)) {
    payload.lines.forEach((l, i) => {
      viewer.push({ name: nameOf(s), line: l.text ?? "", cursor: `${seq}.${i}`, key: subject, priority: l.priority });
    });
  } else {
    viewer.push({ name: s, line: JSON.stringify(payload) });
  }
}

let opening = 0; // the latest open(): an earlier one still waiting for history gives way

async function open(filter) {
  const mine = ++opening;
  if (source) { source.close(); source = null; }
  viewer.clear();
  viewer.historyDone = false;
  subject = filter;
  history.replaceState(null, "", `?subject=${encodeURIComponent(filter)}`);
  let from = null;
  try {
    const page = await historyBefore(subject, null, FIRST_PAGE, (l) => nameOf(l.subject));
    if (mine !== opening) return;
    lines = true;
    for (const l of page.lines) viewer.push(l);
    viewer.historyDone = !page.more;
    from = page.startingFrom.split(".")[0];
  } catch (e) {
    if (mine !== opening) return;
    // Not a subject of lines (or not readable): live only, as the stream endpoint decides.
    lines = false;
    if (e.body?.field !== "subject" || !String(e.message).includes("holds no lines")) {
      setStatus(e.message, "error");
      return;
    }
  }
  $("older").disabled = !lines || viewer.historyDone;
  const p = new URLSearchParams({ subject });
  if (from) p.set("from", from);
  source = new EventSource(withToken(`/api/v1/stream?${p}`));
  source.onopen = () => setStatus(`live: ${subject}`, "ok");
  source.onmessage = onMessage;
  source.onerror = () => setStatus(source?.readyState === EventSource.CLOSED ? "the stream ended" : "reconnecting…", "error");
}

$("subject-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const s = $("subject").value.trim();
  if (s) open(s);
});
window.addEventListener("beforeunload", () => { if (source) source.close(); });
const initial = new URLSearchParams(location.search).get("subject");
if (initial) { $("subject").value = initial; open(initial); }
