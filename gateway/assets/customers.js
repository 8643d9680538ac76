// /customers and /customers/{id}: the customers, and one customer's apps with memory coloured
// against the catalog limit.
import { api, el } from "./app.js";
import { badge, keepInUrl, mb, msg, num, params, periodButtons, root, when } from "./fleet.js";

const customer = root.dataset.customer;
const view = { period: params.get("period") || "7d" };

async function list() {
  const summary = document.getElementById("summary");
  try {
    const all = await api("/api/v1/customers");
    summary.textContent = `${num(all.total)}`;
    document.querySelector("#customers tbody").replaceChildren(...all.customers.map((c) => el("tr", { "data-customer": c.customer_id },
      el("td", {}, el("a", { href: `/customers/${encodeURIComponent(c.customer_id)}` }, c.customer_id)),
      el("td", { class: "num", title: c.apps.join(", ") }, num(c.app_count)),
      el("td", {}, when(c.last_report)),
    )));
  } catch (e) {
    summary.className = "error";
    summary.textContent = e.message;
  }
}

async function one() {
  keepInUrl(view);
  const summary = document.getElementById("summary");
  try {
    const data = await api(`/api/v1/customers/${encodeURIComponent(customer)}/apps?period=${view.period}`);
    summary.className = "muted";
    summary.textContent = "";
    document.querySelector("#customer-apps tbody").replaceChildren(...data.apps.map((a) => el("tr", { "data-app": a.app_name },
      el("td", {}, el("a", { href: `/apps/${encodeURIComponent(a.app_name)}` }, a.display_name || a.app_name)),
      el("td", { class: `num mem-${a.memory_state}`, title: msg(`state.${a.memory_state}`) }, mb(a.memory_current_mb)),
      el("td", { class: "num" }, mb(a.memory_avg_mb)),
      el("td", { class: "num" }, mb(a.memory_peak_mb)),
      el("td", {}, a.catalog_limit || "–"),
      el("td", { class: "num" }, badge(a.log_errors, "error")),
      el("td", { class: "num" }, badge(a.log_warnings, "warn")),
    )));
  } catch (e) {
    summary.className = "error";
    summary.textContent = e.status === 404 ? msg("customer.not_found") : e.message;
  }
}

if (customer) {
  periodButtons(view, one);
  one();
  setInterval(one, 30000);
} else {
  list();
  setInterval(list, 30000);
}
