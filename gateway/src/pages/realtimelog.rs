//! `/realtimelog`: the seed's live-tail page. Pick a host and one or more files (from the
//! catalog, a typed path, or a browsed directory), start, watch lines arrive in one colour per
//! file, pause/resume with a count of lines held, filter, see errors and warnings highlighted,
//! download what was received, stop, scroll up into each file's stored history. It talks to `/api/v1/ws` with the seed's events; the page
//! keeps a bounded number of lines in the DOM so it stays responsive at thousands of lines/s.
//!
//! Query parameters preselect: `?host=NAME_OR_ADDRESS&files=name,name` (`cvm=` is taken as
//! `host=`, as the seed's links name the CVM).

use axum::response::Html;

use super::{layout, viewer};

#[utoipa::path(
    get,
    path = "/realtimelog",
    tag = "pages",
    summary = "The live-tail page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn page() -> Html<String> {
    let controls = viewer(
        r#"<button id="start" type="button" class="primary">Start</button>
    <button id="stop" type="button" disabled>Stop</button>
    <button id="older" type="button">Older lines</button>
    <span id="history-status" class="muted"></span>"#,
        true,
    );
    layout(
        "Live tail",
        "/realtimelog",
        &format!(
            r#"<h1>Live tail</h1>
<section class="tail-controls">
  <div class="row">
    <label>Host <select id="host"><option value="">loading…</option></select></label>
    <span id="host-kind" class="muted"></span>
  </div>
  <fieldset id="files" class="files"><legend>Files</legend><p class="muted">pick a host</p></fieldset>
  <div class="row">
    <label>Path <input id="custom-path" class="mono" size="48" placeholder="/var/log/app.log"></label>
    <button id="custom-add" type="button">Add file</button>
    <label>Directory <input id="browse-dir" class="mono" size="32" placeholder="/var/log"></label>
    <button id="browse" type="button">List</button>
  </div>
  <ul id="browse-list" class="browse mono" hidden></ul>
  {controls}
</section>
<p id="status" class="status muted">idle</p>
<div id="log" class="logview mono" aria-live="off"></div>"#
        ),
        &["realtimelog.js"],
    )
}
