//! [`ApiError`]: every error an HTTP handler returns, as a status and a JSON body
//! `{"error": "...", "detail": "..."}`. Client errors say what was wrong; internal errors are
//! logged once here and answered with a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::{Access, Role};

/// The JSON body of every error answer (described in the OpenAPI document; [`ApiError`] and
/// [`json_errors`] write it).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the bodies are written with `json!`
pub struct ErrorBody {
    /// A short code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, …
    error: String,
    /// What was wrong, for a person.
    detail: String,
    /// The parameter, field or header that was wrong, when one was.
    field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("role {role:?} may not {access:?}")]
    Forbidden { role: Role, access: Access },
    #[error("{field}: {reason}")]
    BadRequest { field: String, reason: String },
    /// Well-formed, but not something this gateway will serve (a path outside a host's roots).
    #[error("{field}: {reason}")]
    Refused { field: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    /// A tail name already taken by another path on the host.
    Conflict(String),
    #[error("a WebSocket from origin {0} is not allowed (gateway.allowed_origins)")]
    OriginRefused(String),
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, reason: &impl ToString) -> Self {
        Self::BadRequest { field: field.into(), reason: reason.to_string() }
    }
}

impl ApiError {
    /// The status and the JSON body `{error, detail, field}` (also sent over WebSocket).
    pub fn body(&self) -> (StatusCode, serde_json::Value) {
        let (status, code) = match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Refused { .. } => (StatusCode::FORBIDDEN, "refused"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::OriginRefused(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let detail = match self {
            ApiError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error answering a request");
                "internal error; see the gateway log".to_owned()
            }
            ApiError::Forbidden { role, access } => format!(
                "the {} role may not {}",
                serde_json::to_value(role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                serde_json::to_value(access)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            other => other.to_string(),
        };
        // What the refusal is about: a parameter or body part, or the header that carried the
        // credentials or the origin.
        let field = match self {
            ApiError::BadRequest { field, .. } | ApiError::Refused { field, .. } => Some(field.clone()),
            ApiError::Unauthorized(_) | ApiError::Forbidden { .. } => Some("Authorization".to_owned()),
            ApiError::OriginRefused(_) => Some("Origin".to_owned()),
            ApiError::Conflict(_) => Some("log_name".to_owned()),
            ApiError::NotFound(_) | ApiError::Unavailable(_) | ApiError::Internal(_) => None,
        };
        (status, json!({ "error": code, "detail": detail, "field": field }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.body();
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Middleware: errors made by the framework and its layers rather than by our handlers (no
/// such route, wrong method, body over the limit, request timeout) get the same JSON body as
/// ours, so a client can always read `{error, detail, field}`.
pub async fn json_errors(
    axum::extract::State(max_body_bytes): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (code, detail, field) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            format!("the request body is larger than gateway.max_body_bytes ({max_body_bytes} bytes)"),
            Some("body"),
        ),
        StatusCode::NOT_FOUND => ("not_found", format!("no endpoint {method} {path}"), None),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", format!("{path} does not take {method}"), None)
        }
        StatusCode::REQUEST_TIMEOUT => {
            ("timeout", "the request took longer than gateway.request_timeout".to_owned(), None)
        }
        other => (
            if other.is_client_error() { "bad_request" } else { "internal" },
            other.canonical_reason().unwrap_or("error").to_owned(),
            None,
        ),
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = json!({ "error": code, "detail": detail, "field": field }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}
