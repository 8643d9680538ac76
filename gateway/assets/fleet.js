// Shared by the fleet pages: the message catalog of the page's language, the period in the
// URL, and the formats the seed's pages used.
import { el } from "./app.js";

const messages = JSON.parse(document.getElementById("messages")?.textContent || "{}");
export const root = document.getElementById("fleet");
export const lang = root?.dataset.lang || "en";

// The text of `key`, with {name} placeholders filled from `vars`.
export function msg(key, vars = {}) {
  const text = messages[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export const params = new URLSearchParams(location.search);

// The view's state in the URL (so a link reproduces it); the language switch keeps it.
export function keepInUrl(view) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(view)) if (v) p.set(k, v);
  history.replaceState(null, "", `${location.pathname}${p.size ? `?${p}` : ""}`);
  for (const a of document.querySelectorAll("a.lang")) {
    const q = new URLSearchParams(p);
    q.set("lang", a.getAttribute("hreflang"));
    a.setAttribute("href", `?${q}`);
  }
}

// Wires the period buttons to `view.period`, calling `changed` on a click.
export function periodButtons(view, changed) {
  const buttons = document.querySelectorAll("button[data-period]");
  const mark = () => buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.period === view.period)));
  buttons.forEach((b) => b.addEventListener("click", () => { view.period = b.dataset.period; mark(); changed(); }));
  mark();
}

const number = new Intl.NumberFormat(lang === "hu" ? "hu-HU" : "en-US", { maximumFractionDigits: 1 });

export function mb(v) {
  return v === null || v === undefined ? "–" : `${number.format(v)} MB`;
}

export function num(v) {
  return v === null || v === undefined ? "–" : number.format(v);
}

export function when(t) {
  if (!t) return "–";
  return new Date(t).toLocaleString(lang === "hu" ? "hu-HU" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

// A count as a badge when it is not zero (the seed's error and warning badges).
export function badge(n, kind) {
  return n > 0 ? el("span", { class: `badge badge-${kind}` }, num(n)) : el("span", { class: "muted" }, "0");
}

// The seed's estimate-accuracy dot.
export function dot(accuracy) {
  return el("span", { class: `dot dot-${accuracy}`, title: msg(`accuracy.${accuracy}`), "data-accuracy": accuracy });
}
