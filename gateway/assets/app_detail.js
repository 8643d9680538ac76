// /apps/{name}: one app's overview with its advice, the memory chart, customers and issues.
import { api, el } from "./app.js";
import { badge, keepInUrl, mb, msg, num, params, periodButtons, root, when } from "./fleet.js";
import uPlot from "./uPlot.esm.js";

const app = root.dataset.app;
const view = { period: params.get("period") || "7d" };
let chart = null;

function advice(detail) {
  const a = detail.advice;
  const lines = [];
  if (detail.suggested_limit_mb !== null) {
    lines.push(msg("app.rests_on", { p95: num(a.p95_memory_mb), deployments: a.deployments, reports: a.reports, days: num(a.days) }));
  } else if (a.reason) {
    lines.push(`${msg("app.no_advice")}: ${a.reason}`);
  }
  if (a.customer_peak_max_mb !== null) {
    lines.push(msg("app.spread", { p50: num(a.customer_peak_p50_mb), p95: num(a.customer_peak_p95_mb), max: num(a.customer_peak_max_mb) }));
  }
  if (a.customers_over.length) lines.push(`${msg("app.over")}: ${a.customers_over.join(", ")}`);
  if (a.outliers.length) lines.push(`${msg("app.outliers")}: ${a.outliers.join(", ")}`);
  if (a.raised_for_oom) lines.push(msg("app.oom", { n: a.oom_kills }));
  if (a.difference_mb !== null) lines.push(`${msg("app.difference")}: ${a.difference_mb > 0 ? "+" : ""}${mb(a.difference_mb)}`);
  const box = document.getElementById("advice");
  box.replaceChildren(...lines.map((l) => el("span", { class: "line" }, l)));
}

function draw(history) {
  const xs = history.points.map((p) => Date.parse(p.hour) / 1000);
  const avg = history.points.map((p) => p.avg_memory_mb);
  const peak = history.points.map((p) => p.peak_memory_mb);
  const limit = history.points.map(() => history.catalog_limit_mb);
  const box = document.getElementById("memory-chart");
  if (chart) chart.destroy();
  chart = new uPlot({
    width: Math.max(320, box.clientWidth || 800),
    height: 220,
    series: [
      {},
      { label: msg("app.avg"), stroke: "#4ea1ff" },
      { label: msg("app.peak"), stroke: "#ff6b6b" },
      { label: msg("app.limit_line"), stroke: "#5fd38d", dash: [6, 4] },
    ],
    axes: [{ stroke: "#8a95a3" }, { stroke: "#8a95a3", size: 72, values: (_, ticks) => ticks.map((v) => `${v} MB`) }],
    scales: { y: { range: (_, min, max) => [0, Math.max(max, 1) * 1.1] } },
  }, [xs, avg, peak, limit], box);
  box.dataset.points = String(xs.length);
}

async function refresh() {
  keepInUrl(view);
  const summary = document.getElementById("summary");
  const q = `period=${view.period}`;
  const path = `/api/v1/apps/${encodeURIComponent(app)}`;
  try {
    const [detail, history, customers, issues] = await Promise.all([
      api(`${path}?${q}`), api(`${path}/history?${q}`), api(`${path}/customers?${q}`), api(`${path}/issues`),
    ]);
    summary.className = "muted";
    summary.textContent = "";
    document.getElementById("app-title").textContent = detail.display_name ? `${detail.display_name} (${detail.app_name})` : detail.app_name;
    document.getElementById("deployments").textContent = num(detail.deployment_count);
    document.getElementById("estimate").textContent = detail.catalog_estimate || "–";
    document.getElementById("limit").textContent = detail.catalog_limit || "–";
    document.getElementById("p95").textContent = mb(detail.p95_memory_mb);
    document.getElementById("suggested").textContent = detail.suggested_limit_mb === null ? "–" : `${detail.suggested_limit_mb}M`;
    advice(detail);
    draw(history);
    document.querySelector("#customers tbody").replaceChildren(...customers.customers.map((c) => el("tr", { "data-customer": c.customer_id },
      el("td", {}, el("a", { href: `/customers/${encodeURIComponent(c.customer_id)}` }, c.customer_id)),
      el("td", { class: "num" }, mb(c.avg_memory_mb)),
      el("td", { class: "num" }, mb(c.peak_memory_mb)),
      el("td", { class: "num" }, `${num(c.avg_cpu)} %`),
      el("td", { class: "num" }, badge(c.total_errors, "error")),
      el("td", {}, when(c.last_report)),
    )));
    document.querySelector("#issues tbody").replaceChildren(...issues.issues.map((i) => el("tr", { "data-fingerprint": i.fingerprint },
      el("td", { class: i.severity === "error" ? "error" : "warn" }, i.severity),
      el("td", { class: "mono" }, i.message),
      el("td", { class: "num" }, num(i.occurrence_count)),
      el("td", { class: "num", title: i.affected_customers.join(", ") }, num(i.affected_customers.length)),
      el("td", {}, when(i.first_seen)),
      el("td", {}, when(i.last_seen)),
    )));
  } catch (e) {
    summary.className = "error";
    summary.textContent = e.status === 404 ? msg("app.not_found") : e.message;
  }
}

periodButtons(view, refresh);
refresh();
setInterval(refresh, 30000);
