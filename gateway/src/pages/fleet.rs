//! The fleet pages, in the seed's spirit and in its language (English or Hungarian, see
//! [`super::i18n`]):
//! - `/apps`: summary cards, the period selector, the sortable fleet table with estimate
//!   accuracy dots and error badges;
//! - `/apps/{name}`: the app's overview with its memory-limit advice, a memory chart (average,
//!   peak, and the catalog limit as a line; uPlot), its customers and its issues;
//! - `/customers` and `/customers/{id}`: the customers, and one customer's apps with memory
//!   coloured against the limit.
//!
//! The HTML here is the shell and its translated labels; `apps.js`, `app_detail.js` and
//! `customers.js` fill it from `/api/v1/apps…` and `/api/v1/customers…`. The URL carries the
//! view (`?period=30d&sort=memory&order=asc`).

use axum::extract::Path;
use axum::http::header::SET_COOKIE;
use axum::response::{Html, IntoResponse, Response};

use super::i18n::{catalog_json, t, Lang};
use super::{assets, escape_html, layout_in};

/// The page, with the catalog for its script, remembering the language chosen.
fn page(
    lang: Lang,
    title: &str,
    active: &str,
    body: &str,
    scripts: &[&str],
    data: &[(&str, &str)],
) -> Response {
    let attrs: String = data.iter().map(|(k, v)| format!(r#" data-{k}="{}""#, escape_html(v))).collect();
    let body = format!(
        r#"<link rel="stylesheet" href="/assets/{css}">
<script type="application/json" id="messages">{messages}</script>
<div id="fleet" data-lang="{code}"{attrs}>
{body}
</div>"#,
        css = assets::versioned("uPlot.min.css"),
        messages = catalog_json(lang),
        code = lang.code(),
    );
    let Html(html) = layout_in(lang, title, active, &body, scripts);
    let cookie = format!("tailrace_lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
    ([(SET_COOKIE, cookie)], Html(html)).into_response()
}

fn periods(lang: Lang) -> String {
    let buttons: String = ["24h", "7d", "30d"]
        .iter()
        .map(|p| {
            format!(r#"<button type="button" data-period="{p}">{}</button>"#, t(lang, &format!("period.{p}")))
        })
        .collect();
    format!(r#"<span class="periods" role="group" aria-label="{}">{buttons}</span>"#, t(lang, "period"))
}

#[utoipa::path(
    get,
    path = "/apps",
    tag = "pages",
    summary = "The fleet's apps page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn apps(lang: Lang) -> Response {
    let th = |key: &str| t(lang, key).to_owned();
    let body = format!(
        r#"<h1>{title}</h1>
<section class="row">{periods}<span id="summary" class="muted">{loading}</span></section>
<section class="cards">
  <div class="card"><span class="n" id="total-apps">–</span><span class="muted">{total}</span></div>
  <div class="card"><span class="n" id="total-deployments">–</span><span class="muted">{deployments}</span></div>
  <div class="card"><span class="n" id="apps-with-errors">–</span><span class="muted">{with_errors}</span></div>
</section>
<table id="apps" class="data">
  <thead><tr>
    <th>{c_app}</th><th class="num sortable" data-sort="deployments">{c_dep}</th>
    <th class="num sortable" data-sort="memory">{c_avg}</th><th class="num">{c_p95}</th>
    <th>{c_est}</th><th>{c_lim}</th><th>{c_acc}</th>
    <th class="num sortable" data-sort="errors">{c_err}</th><th class="num">{c_warn}</th>
  </tr></thead>
  <tbody></tbody>
</table>"#,
        title = th("apps.title"),
        periods = periods(lang),
        loading = th("loading"),
        total = th("apps.total"),
        deployments = th("apps.deployments"),
        with_errors = th("apps.with_errors"),
        c_app = th("col.app"),
        c_dep = th("col.deployments"),
        c_avg = th("col.avg_memory"),
        c_p95 = th("col.p95_memory"),
        c_est = th("col.estimate"),
        c_lim = th("col.limit"),
        c_acc = th("col.accuracy"),
        c_err = th("col.errors"),
        c_warn = th("col.warnings"),
    );
    page(lang, t(lang, "apps.title"), "/apps", &body, &["apps.js"], &[])
}

#[utoipa::path(
    get,
    path = "/apps/{app}",
    tag = "pages",
    summary = "One app's page.",
    params(("app" = String, Path, description = "the app name")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn app(lang: Lang, Path(name): Path<String>) -> Response {
    let th = |key: &str| t(lang, key).to_owned();
    let body = format!(
        r#"<h1 id="app-title">{name}</h1>
<section class="row">{periods}<span id="summary" class="muted">{loading}</span></section>
<section class="detail" id="overview">
  <h2>{overview}</h2>
  <dl class="facts">
    <dt>{c_dep}</dt><dd id="deployments">–</dd>
    <dt>{c_est}</dt><dd id="estimate">–</dd>
    <dt>{c_lim}</dt><dd id="limit">–</dd>
    <dt>{c_p95}</dt><dd id="p95">–</dd>
    <dt>{suggested}</dt><dd id="suggested">–</dd>
  </dl>
  <p id="advice" class="muted"></p>
</section>
<h2>{memory}</h2>
<div id="memory-chart" class="trend"></div>
<h2>{customers}</h2>
<table id="customers" class="data">
  <thead><tr><th>{c_cust}</th><th class="num">{c_avg}</th><th class="num">{c_peak}</th><th class="num">{c_cpu}</th><th class="num">{c_err}</th><th>{c_last}</th></tr></thead>
  <tbody></tbody>
</table>
<h2>{issues}</h2>
<table id="issues" class="data">
  <thead><tr><th>{c_sev}</th><th>{c_msg}</th><th class="num">{c_occ}</th><th class="num">{c_aff}</th><th>{c_first}</th><th>{c_lastseen}</th></tr></thead>
  <tbody></tbody>
</table>"#,
        name = escape_html(&name),
        periods = periods(lang),
        loading = th("loading"),
        overview = th("app.overview"),
        c_dep = th("col.deployments"),
        c_est = th("col.estimate"),
        c_lim = th("col.limit"),
        c_p95 = th("col.p95_memory"),
        suggested = th("app.suggested"),
        memory = th("app.memory"),
        customers = th("app.customers"),
        c_cust = th("col.customer"),
        c_avg = th("col.avg_memory"),
        c_peak = th("col.peak_memory"),
        c_cpu = th("col.cpu"),
        c_err = th("col.errors"),
        c_last = th("col.last_report"),
        issues = th("app.issues"),
        c_sev = th("col.severity"),
        c_msg = th("col.message"),
        c_occ = th("col.occurrences"),
        c_aff = th("col.affected"),
        c_first = th("col.first_seen"),
        c_lastseen = th("col.last_seen"),
    );
    page(lang, &name, "/apps", &body, &["app_detail.js"], &[("app", &name)])
}

#[utoipa::path(
    get,
    path = "/customers",
    tag = "pages",
    summary = "The customers page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn customers(lang: Lang) -> Response {
    let body = format!(
        r#"<h1>{title}</h1>
<p id="summary" class="muted">{loading}</p>
<table id="customers" class="data">
  <thead><tr><th>{c_cust}</th><th class="num">{c_apps}</th><th>{c_last}</th></tr></thead>
  <tbody></tbody>
</table>"#,
        title = t(lang, "customers.title"),
        loading = t(lang, "loading"),
        c_cust = t(lang, "col.customer"),
        c_apps = t(lang, "col.apps"),
        c_last = t(lang, "col.last_report"),
    );
    page(lang, t(lang, "customers.title"), "/customers", &body, &["customers.js"], &[])
}

#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "pages",
    summary = "One customer's page.",
    params(("id" = String, Path, description = "the customer id")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn customer(lang: Lang, Path(id): Path<String>) -> Response {
    let th = |key: &str| t(lang, key).to_owned();
    let body = format!(
        r#"<h1>{title}: <span id="customer-id">{id}</span></h1>
<section class="row">{periods}<span id="summary" class="muted">{loading}</span></section>
<h2>{apps}</h2>
<table id="customer-apps" class="data">
  <thead><tr><th>{c_app}</th><th class="num">{c_cur}</th><th class="num">{c_avg}</th><th class="num">{c_peak}</th><th>{c_lim}</th><th class="num">{c_err}</th><th class="num">{c_warn}</th></tr></thead>
  <tbody></tbody>
</table>"#,
        title = th("customer.title"),
        id = escape_html(&id),
        periods = periods(lang),
        loading = th("loading"),
        apps = th("customer.apps"),
        c_app = th("col.app"),
        c_cur = th("col.memory_current"),
        c_avg = th("col.memory_avg"),
        c_peak = th("col.memory_peak"),
        c_lim = th("col.limit"),
        c_err = th("col.errors"),
        c_warn = th("col.warnings"),
    );
    page(lang, &id, "/customers", &body, &["customers.js"], &[("customer", &id)])
}
