//! The embedded assets: served with their content type and an ETag; cached for good only when
//! requested with the content-hash query (`?v=`) that [`versioned`] adds.

use std::hash::{Hash, Hasher};

use axum::extract::{Path, RawQuery};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Every asset: name, content type, content.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../assets/app.js")),
    ("overview.js", "text/javascript; charset=utf-8", include_str!("../../assets/overview.js")),
    ("realtimelog.js", "text/javascript; charset=utf-8", include_str!("../../assets/realtimelog.js")),
    ("subject.js", "text/javascript; charset=utf-8", include_str!("../../assets/subject.js")),
    ("viewer.js", "text/javascript; charset=utf-8", include_str!("../../assets/viewer.js")),
    ("logs.js", "text/javascript; charset=utf-8", include_str!("../../assets/logs.js")),
    ("issues.js", "text/javascript; charset=utf-8", include_str!("../../assets/issues.js")),
    ("fleet.js", "text/javascript; charset=utf-8", include_str!("../../assets/fleet.js")),
    ("apps.js", "text/javascript; charset=utf-8", include_str!("../../assets/apps.js")),
    ("app_detail.js", "text/javascript; charset=utf-8", include_str!("../../assets/app_detail.js")),
    ("customers.js", "text/javascript; charset=utf-8", include_str!("../../assets/customers.js")),
    // From the npm registry, pinned by gateway/web/package-lock.json (deploy/vendor-web.sh).
    ("uPlot.esm.js", "text/javascript; charset=utf-8", include_str!("../../assets/vendor/uPlot.esm.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_str!("../../assets/vendor/uPlot.min.css")),
];

fn find(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    ASSETS.iter().find(|(n, _, _)| *n == name)
}

fn digest(content: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `name?v=<hash of its content>`, so a changed asset gets a new URL and caches never go stale.
pub fn versioned(name: &str) -> String {
    match find(name) {
        Some((_, _, content)) => format!("{name}?v={}", &digest(content)[..10]),
        None => name.to_owned(),
    }
}

#[utoipa::path(
    get,
    path = "/assets/{file}",
    tag = "pages",
    summary = "The pages' CSS and JavaScript.",
    params(("file" = String, Path, description = "the asset name")),
    responses(
        (status = 200, description = "the asset", content_type = "text/javascript"),
        (status = 404, description = "no such asset", body = crate::error::ErrorBody),
    )
)]
pub async fn serve(
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, content_type, content) =
        find(&file).ok_or_else(|| ApiError::NotFound(format!("asset {file}")))?;
    let etag = format!("\"{}\"", digest(content));
    if headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    // Only a content-versioned URL may be cached for good; modules imported by plain name
    // (`./app.js`) are revalidated with the ETag.
    let cache = if query.is_some_and(|q| q.starts_with("v=")) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(([(CONTENT_TYPE, *content_type), (ETAG, etag.as_str()), (CACHE_CONTROL, cache)], *content)
        .into_response())
}
