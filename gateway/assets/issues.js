// The issue list: /api/v1/issues as a sortable, filterable table; a row opens its trend.
import { api, el } from "./app.js";
import uPlot from "./uPlot.esm.js";

const params = new URLSearchParams(location.search);
const view = {
  window: params.has("window") ? params.get("window") : "24h",
  sort: params.get("sort") || "count",
  severity: params.get("severity") || "",
  scope: params.get("scope") || "",
};
let chart = null;
let open = null; // [scope, fingerprint] of the issue shown below the table

function keepInUrl() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(view)) if (v || k === "window") p.set(k, v);
  history.replaceState(null, "", `${location.pathname}?${p}`);
}

function when(t) {
  if (!t) return "—";
  const d = new Date(t);
  const ago = (Date.now() - d.getTime()) / 1000;
  if (ago < 90) return `${Math.max(0, Math.round(ago))} s ago`;
  if (ago < 5400) return `${Math.round(ago / 60)} min ago`;
  if (ago < 129600) return `${Math.round(ago / 3600)} h ago`;
  return d.toISOString().slice(0, 10);
}

async function refresh() {
  const q = new URLSearchParams({ sort: view.sort, limit: "200" });
  if (view.window) q.set("window", view.window);
  if (view.severity) q.set("severity", view.severity);
  if (view.scope) q.set("scope", view.scope);
  const summary = document.getElementById("summary");
  try {
    const page = await api(`/api/v1/issues?${q}`);
    summary.className = "muted";
    summary.textContent = `${page.total} issue${page.total === 1 ? "" : "s"}`;
    document.querySelector("#issues tbody").replaceChildren(...page.issues.map((i) => {
      const tr = el("tr", { class: "issue", "data-fingerprint": i.fingerprint, "data-scope": i.scope },
        el("td", { class: i.severity === "error" ? "error" : "warn" }, i.severity),
        el("td", {}, i.scope),
        el("td", { class: "mono" }, i.message || i.sample),
        el("td", { class: "num window-count" }, i.window_count.toLocaleString()),
        el("td", { class: "num" }, i.count.toLocaleString()),
        el("td", { class: "num" }, String(i.hosts.length + (i.more_hosts || 0))),
        el("td", {}, when(i.last_seen)),
        el("td", {}, when(i.first_seen)),
      );
      tr.addEventListener("click", () => show(i.scope, i.fingerprint));
      return tr;
    }));
    for (const th of document.querySelectorAll("th.sortable")) {
      th.setAttribute("aria-sort", th.dataset.sort === view.sort ? "descending" : "none");
    }
  } catch (e) {
    summary.className = "error";
    summary.textContent = `cannot read the issues: ${e.message}`;
  }
}

async function show(scope, fingerprint) {
  open = [scope, fingerprint];
  const issue = await api(`/api/v1/issues/${encodeURIComponent(scope)}/${encodeURIComponent(fingerprint)}`);
  const detail = document.getElementById("detail");
  detail.hidden = false;
  document.getElementById("detail-title").textContent = `${issue.message} — ${issue.count.toLocaleString()} in all, ${issue.last_24h.toLocaleString()} in 24 h`;
  document.getElementById("detail-sample").textContent = issue.sample;
  const where = document.getElementById("detail-where");
  where.replaceChildren(
    `seen on ${issue.hosts.join(", ") || "—"}${issue.more_hosts ? ` and ${issue.more_hosts} more` : ""}; `,
    ...issue.sources.flatMap((s, n) => {
      const host = issue.hosts[0] || "";
      const a = el("a", { href: `/realtimelog?host=${encodeURIComponent(host)}&files=${encodeURIComponent(s)}`, class: "live" }, `live: ${s}`);
      return n ? [", ", a] : [a];
    }),
  );
  // One point per hour of the last 30 days, zero where nothing was seen.
  const counts = new Map(issue.trend.map(([t, n]) => [Math.floor(Date.parse(t) / 3600000), n]));
  const now = Math.floor(Date.now() / 3600000);
  const hours = [], values = [];
  for (let h = now - 30 * 24 + 1; h <= now; h++) {
    hours.push(h * 3600);
    values.push(counts.get(h) || 0);
  }
  const box = document.getElementById("trend");
  if (chart) chart.destroy();
  chart = new uPlot({
    width: Math.max(320, box.clientWidth || 800),
    height: 180,
    series: [{}, { label: "occurrences per hour", stroke: "#ff6b6b", fill: "rgba(255,107,107,.15)" }],
    axes: [{ stroke: "#8a95a3" }, { stroke: "#8a95a3" }],
  }, [hours, values], box);
  box.dataset.points = String(values.filter((v) => v > 0).length);
}

for (const id of ["window", "severity"]) {
  const select = document.getElementById(id);
  select.value = view[id];
  select.addEventListener("change", () => { view[id] = select.value; keepInUrl(); refresh(); });
}
const scope = document.getElementById("scope");
scope.value = view.scope;
scope.addEventListener("change", () => { view.scope = scope.value.trim(); keepInUrl(); refresh(); });
for (const th of document.querySelectorAll("th.sortable")) {
  th.addEventListener("click", () => { view.sort = th.dataset.sort; keepInUrl(); refresh(); });
}
refresh();
setInterval(() => { refresh(); if (open) show(...open).catch(() => {}); }, 10000);
