//! `/logs`: the synced logs, as the seed's logs service listed them and more. Pick a target and
//! a service (category, with its file count and size), filter files by name, open one: its last
//! lines in the shared log viewer (pause, filter, highlighting, download), followed live as the
//! sync appends (SSE, resumed exactly by byte offset); search a service's files with the matches
//! marked and a click opening the file there. Compressed copies (retention) read the same. The
//! URL carries the view (`?target=&service=&path=&q=`), so a link reproduces it.

use axum::response::Html;

use super::{layout, viewer};

#[utoipa::path(
    get,
    path = "/logs",
    tag = "pages",
    summary = "The synced-logs page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
pub async fn page() -> Html<String> {
    let controls = viewer(
        r#"<label>Last <input id="lines" type="number" min="1" max="10000" value="200" size="6"> lines</label>
    <button id="follow" type="button" disabled>Follow</button>"#,
        false,
    );
    layout(
        "Synced logs",
        "/logs",
        &format!(
            r#"<h1>Synced logs</h1>
<section class="row">
  <label>Target <select id="target"><option value="">all</option></select></label>
  <label>Name <input id="name" size="20" placeholder="part of the path"></label>
  <span id="sync-status" class="muted"></span>
</section>
<section class="row" id="services" aria-label="services"></section>
<section class="split">
  <div class="files-pane">
    <table id="files" class="data files-table">
      <thead><tr><th>file</th><th>service</th><th class="num">size</th><th class="num">lines</th><th>modified</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="files-summary" class="muted"></p>
  </div>
  <div class="viewer-pane">
    <form id="search-form" class="row">
      <label>Search <input id="q" size="28" placeholder="text in the lines"></label>
      <label><input id="regex" type="checkbox"> regex</label>
      <button type="submit">Search</button>
      <span id="search-summary" class="muted"></span>
    </form>
    <ol id="results" class="results mono" hidden></ol>
    <h2 id="file-title">no file open</h2>
    {controls}
    <p id="status" class="status muted"></p>
    <div id="log" class="logview mono" aria-live="off"></div>
  </div>
</section>"#
        ),
        &["logs.js"],
    )
}
