//! `/subject?subject=FILTER`: any subject the caller may read, live. Lines of `logs.raw` and
//! `logs.classified` subjects show as lines (with their host and source) and scroll back into
//! their history seamlessly: the page opens on the newest stored lines and goes live from the
//! sequence right after them, and scrolling up loads the lines before the oldest shown. Other
//! subjects (status, reports, issues) show one JSON message per line, live.

use axum::response::Html;

use super::{layout, viewer};

#[utoipa::path(
    get,
    path = "/subject",
    tag = "pages",
    summary = "The subject viewer page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn page() -> Html<String> {
    let controls = viewer(
        r#"<button id="older" type="button">Older lines</button>
    <span id="history-status" class="muted"></span>"#,
        false,
    );
    layout(
        "Subject",
        "/subject",
        &format!(
            r#"<h1>Subject</h1>
<form id="subject-form" class="row">
  <label>Subject <input id="subject" class="mono" size="40" placeholder="logs.raw.web-1.>"></label>
  <button type="submit" class="primary">Open</button>
</form>
<section class="tail-controls">
  {controls}
</section>
<p id="status" class="status muted">idle</p>
<div id="log" class="logview mono" aria-live="off"></div>"#
        ),
        &["subject.js"],
    )
}
