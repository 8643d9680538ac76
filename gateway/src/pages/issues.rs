//! `/issues`: the issue table in the spirit of Sentry's issue list: one row per issue (severity,
//! scope, template, occurrences in the chosen window and in all, hosts, last and first seen),
//! sortable by its column headers, filtered by window, severity and scope; a row opens the
//! issue: its sample line, hosts and sources, a link to the live tail of each source, and its
//! hourly trend drawn with uPlot (from the npm registry, `deploy/vendor-web.sh`). The URL
//! carries the view (`?window=24h&sort=count&severity=error&scope=db`), so a link reproduces it.

use axum::response::Html;

use super::{assets, layout};

#[utoipa::path(
    get,
    path = "/issues",
    tag = "pages",
    summary = "The issues page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn page() -> Html<String> {
    let body = format!(
        r#"<link rel="stylesheet" href="/assets/{css}">
<h1>Issues</h1>
<section class="row">
  <label>Window <select id="window">
    <option value="24h">24 hours</option><option value="7d">7 days</option>
    <option value="30d">30 days</option><option value="">all</option>
  </select></label>
  <label>Severity <select id="severity">
    <option value="">any</option><option value="warn">warn and worse</option><option value="error">error</option>
  </select></label>
  <label>Scope <input id="scope" size="16" placeholder="all"></label>
  <span id="summary" class="muted">loading…</span>
</section>
<table id="issues" class="data issues">
  <thead><tr>
    <th>severity</th><th>scope</th><th>issue</th>
    <th class="num sortable" data-sort="count">in window</th><th class="num">total</th>
    <th class="num">hosts</th>
    <th class="sortable" data-sort="last_seen">last seen</th><th class="sortable" data-sort="first_seen">first seen</th>
  </tr></thead>
  <tbody></tbody>
</table>
<section id="detail" class="detail" hidden>
  <h2 id="detail-title"></h2>
  <p class="mono" id="detail-sample"></p>
  <p id="detail-where" class="muted"></p>
  <div id="trend" class="trend"></div>
</section>"#,
        css = assets::versioned("uPlot.min.css"),
    );
    layout("Issues", "/issues", &body, &["issues.js"])
}
