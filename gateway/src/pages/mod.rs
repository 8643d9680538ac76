//! Web pages: server-rendered HTML shells with one shared layout and navigation, brought to life
//! by small ES modules that call the REST API and streams.
//!
//! The page technology, decided once for every page: HTML is rendered here in Rust (no template
//! engine: a page is a title, a body and its scripts); our own CSS and JavaScript live in
//! `gateway/assets/` and are embedded with `include_str!`, so `cargo build` alone makes a
//! working server with no Node.js at build or run time. A third-party browser library (a chart
//! library, say) comes from the npm registry, pinned by `gateway/web/package-lock.json` and
//! placed in `gateway/assets/vendor/` by `deploy/vendor-web.sh`; it is never copied by hand.
//!
//! Adding a page: a module here with a handler that calls [`layout`], an entry in [`NAV`], and
//! its script in `assets/`, listed in [`assets::ASSETS`].

pub mod assets;
pub mod fleet;
pub mod i18n;
pub mod issues;
pub mod logs;
pub mod realtimelog;
pub mod subject;

use axum::response::Html;
use utoipa_axum::routes;

use crate::routes::ApiRouter;

/// The navigation bar: the path of every page, in order (labels from [`i18n`], `nav.{path}`).
pub const NAV: &[&str] = &["/", "/realtimelog", "/subject", "/logs", "/issues", "/apps", "/customers"];

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(realtimelog::page))
        .routes(routes!(subject::page))
        .routes(routes!(logs::page))
        .routes(routes!(issues::page))
        .routes(routes!(fleet::apps))
        .routes(routes!(fleet::app))
        .routes(routes!(fleet::customers))
        .routes(routes!(fleet::customer))
        .routes(routes!(assets::serve))
}

/// The controls of the log viewer (`assets/viewer.js`) the log pages show, after `leading`
/// (the page's own buttons), then the status line and the view.
pub fn viewer(leading: &str, pause_disabled: bool) -> String {
    let disabled = if pause_disabled { " disabled" } else { "" };
    format!(
        r#"<div class="row">
    {leading}
    <button id="pause" type="button"{disabled}>Pause</button>
    <span id="held" class="muted"></span>
    <label><input id="autoscroll" type="checkbox" checked> Autoscroll</label>
    <label>Filter <input id="filter" size="20" placeholder="text or /regex/"></label>
    <label>Exclude <input id="exclude" size="14" placeholder="text or /regex/"></label>
    <label>Level <select id="level"><option value="">all</option><option value="warn">warnings and above</option><option value="error">errors only</option></select></label>
    <button id="download" type="button" title="the lines received (up to 200,000)">Download</button>
    <button id="download-all" type="button" title="every stored line from the oldest one reached to the newest received, read from history">Download all</button>
    <button id="clear" type="button">Clear</button>
    <span id="counts" class="muted"></span>
  </div>
  <div class="row viewer-options">
    <label><input id="wrap" type="checkbox" checked> Wrap</label>
    <label><input id="numbers" type="checkbox"> Line numbers</label>
    <label title="the time each line was received, and the time it states (its own timestamp, in your time zone)"><input id="times" type="checkbox"> Times</label>
    <label title="one column per file, side by side"><input id="split" type="checkbox"> Split</label>
    <button id="prev-error" type="button" title="previous error (p)">&uarr; error</button>
    <button id="next-error" type="button" title="next error (n)">&darr; error</button>
    <span id="hidden-names" class="muted"></span>
    <span class="muted keys" title="keyboard shortcuts">keys: <kbd>/</kbd> filter &middot; <kbd>space</kbd> pause &middot; <kbd>n</kbd>/<kbd>p</kbd> next/previous error &middot; <kbd>w</kbd> wrap &middot; <kbd>s</kbd> split &middot; <kbd>End</kbd> follow &middot; click a [name] to hide it, shift-click to show it alone</span>
  </div>"#
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The shared page layout: header with navigation (`active` marked), then `body` (trusted HTML
/// built by the page), then the page's module scripts, which import `./app.js` for the shared
/// API helper and token handling.
pub fn layout(title: &str, active: &str, body: &str, scripts: &[&str]) -> Html<String> {
    layout_in(i18n::Lang::En, title, active, body, scripts)
}

/// [`layout`] in `lang`: the navigation translated, `<html lang>` set, and a language switch.
pub fn layout_in(lang: i18n::Lang, title: &str, active: &str, body: &str, scripts: &[&str]) -> Html<String> {
    let nav: String = NAV
        .iter()
        .map(|path| {
            let current = if *path == active { r#" aria-current="page""# } else { "" };
            let label = i18n::t(lang, &format!("nav.{path}"));
            format!(r#"<a href="{path}"{current}>{}</a>"#, escape_html(label))
        })
        .collect();
    let switch: String = [i18n::Lang::En, i18n::Lang::Hu]
        .iter()
        .map(|l| {
            let current = if *l == lang { r#" aria-current="true""# } else { "" };
            format!(
                r#"<a href="?lang={code}" class="lang" hreflang="{code}"{current}>{code}</a>"#,
                code = l.code()
            )
        })
        .collect();
    let scripts: String = scripts
        .iter()
        .map(|s| format!(r#"<script type="module" src="/assets/{}"></script>"#, assets::versioned(s)))
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · tailrace</title>
<link rel="stylesheet" href="/assets/{css}">
</head>
<body>
<header class="top">
  <span class="brand">tailrace</span>
  <nav>{nav}</nav>
  <span class="langs" title="{language}">{switch}</span>
  <span id="auth" class="auth" hidden>
    <label>Token <input id="auth-token" type="password" autocomplete="off"></label>
    <button id="auth-save" type="button">Use</button>
  </span>
</header>
<main>
{body}
</main>
{scripts}
</body>
</html>"#,
        title = escape_html(title),
        css = assets::versioned("app.css"),
        lang = lang.code(),
        language = escape_html(i18n::t(lang, "language")),
    ))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    summary = "The overview page.",
    responses(
        (status = 200, description = "HTML", content_type = "text/html"),
    )
)]
async fn overview() -> Html<String> {
    layout(
        "Overview",
        "/",
        r#"<h1>Overview</h1>
<section>
  <h2>Broker</h2>
  <p id="broker" class="muted">loading…</p>
</section>
<section>
  <h2>Streams</h2>
  <table id="streams" class="data">
    <thead><tr><th>stream</th><th>subjects</th><th class="num">messages</th><th class="num">bytes</th><th>consumers (pending / redelivered)</th></tr></thead>
    <tbody></tbody>
  </table>
</section>"#,
        &["overview.js"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_layout_marks_the_active_page_and_links_versioned_assets() {
        let Html(page) = layout("T<", "/", "<p>b</p>", &["overview.js"]);
        assert!(page.contains(r#"<a href="/" aria-current="page">Overview</a>"#));
        assert!(page.contains("<title>T&lt; · tailrace</title>"));
        assert!(page.contains("/assets/overview.js?v="));
    }
}
