//! `/realtimelog`: the seed's live-tail page. Pick a host and one or more files (from the
//! catalog, a typed path, or a browsed directory), start, watch lines arrive in one colour per
//! file, pause/resume with a count of lines held, filter, see errors and warnings highlighted,
//! download what was received, stop, scroll up into each file's stored history. It talks to `/api/v1/ws` with the seed's events; the page
//! keeps a bounded number of lines in the DOM so it stays responsive at thousands of lines/s.
//!
//! The URL carries the view and a link reproduces it: `?host=NAME_OR_ADDRESS&files=name,name`
//! (catalog files), `&path=/abs/file` or `&path=NAME=/abs/file` (typed paths), `&filter=TEXT`
//! (`cvm=` is taken as `host=`, as the seed's links name the CVM). A host or file name the link
//! gives that is not offered is reported, not silently replaced. A lost connection is retried
//! with backoff and each file resumes right after its last line.

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
    <label>Path <input id="custom-path" class="mono" size="40" placeholder="/var/log/app.log or journal:ssh.service" title="an absolute file path, or a journal source: journal:UNIT, journal:FIELD=value, journal:* (journal/NAMESPACE:… for a namespace)"></label>
    <label>Name <input id="custom-name" size="12" placeholder="its stem"></label>
    <button id="custom-add" type="button">Add file</button>
    <label>Directory <input id="browse-dir" class="mono" size="32" placeholder="/var/log"></label>
    <button id="browse" type="button">List</button>
  </div>
  <ul id="browse-list" class="browse mono" hidden></ul>
  {controls}
</section>
<p id="notice" class="status error" hidden></p>
<p id="connection" class="status muted" hidden></p>
<p id="status" class="status muted">idle</p>
<div id="log" class="logview mono" aria-live="off"></div>"#
        ),
        &["realtimelog.js"],
    )
}
