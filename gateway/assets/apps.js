// /apps: the fleet app summary, its cards, the period selector and the sortable table.
import { api, el } from "./app.js";
import { badge, dot, keepInUrl, mb, msg, num, params, periodButtons } from "./fleet.js";

const view = {
  period: params.get("period") || "7d",
  sort: params.get("sort") || "deployments",
  order: params.get("order") || "desc",
};

async function refresh() {
  keepInUrl(view);
  const summary = document.getElementById("summary");
  try {
    const q = new URLSearchParams(view);
    const fleet = await api(`/api/v1/apps?${q}`);
    summary.className = "muted";
    summary.textContent = fleet.apps.length ? "" : msg("apps.none");
    document.getElementById("total-apps").textContent = num(fleet.total_apps);
    document.getElementById("total-deployments").textContent = num(fleet.total_deployments);
    document.getElementById("apps-with-errors").textContent = num(fleet.apps_with_errors);
    document.querySelector("#apps tbody").replaceChildren(...fleet.apps.map((a) => el("tr", { "data-app": a.app_name },
      el("td", {}, el("a", { href: `/apps/${encodeURIComponent(a.app_name)}?period=${view.period}` }, a.display_name || a.app_name)),
      el("td", { class: "num" }, num(a.deployment_count)),
      el("td", { class: "num" }, mb(a.avg_memory_mb)),
      el("td", { class: "num" }, mb(a.p95_memory_mb)),
      el("td", {}, a.catalog_estimate || "–"),
      el("td", {}, a.catalog_limit || "–"),
      el("td", {}, dot(a.estimate_accuracy)),
      el("td", { class: "num" }, badge(a.total_errors, "error")),
      el("td", { class: "num" }, badge(a.total_warnings, "warn")),
    )));
    for (const th of document.querySelectorAll("th.sortable")) {
      th.setAttribute("aria-sort", th.dataset.sort === view.sort ? (view.order === "asc" ? "ascending" : "descending") : "none");
    }
  } catch (e) {
    summary.className = "error";
    summary.textContent = e.message;
  }
}

for (const th of document.querySelectorAll("th.sortable")) {
  th.addEventListener("click", () => {
    view.order = view.sort === th.dataset.sort && view.order === "desc" ? "asc" : "desc";
    view.sort = th.dataset.sort;
    refresh();
  });
}
periodButtons(view, refresh);
refresh();
setInterval(refresh, 30000);
