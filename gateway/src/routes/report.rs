//! `POST /api/v1/report`: a controller's report over HTTP (the seed's endpoint), checked and
//! published to `reports.{customer}`, where the report splitter takes it like one sent over
//! NATS.
//!
//! The body is JSON or MessagePack (`Content-Type: application/msgpack`, or any body that does
//! not start with `{`). A report that does not read or check gets 400 naming the field; a
//! controller token reports only as its own customer (403 naming `customer_id` otherwise). The
//! answer, 202, comes once JetStream has stored the report. A report sent again (a controller's
//! retry) has the same message id (customer and report time) and is stored once.

use utoipa_axum::routes;

use super::ApiRouter;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use tailrace_nats::Outgoing;
use tailrace_schemas::{report_check, Timestamp};

use crate::auth::{Access, Caller};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: &AppState) -> ApiRouter {
    super::protect(ApiRouter::new().routes(routes!(ingest)), state, Access::Ingest)
}

#[utoipa::path(
    post,
    path = "/api/v1/report",
    tag = "fleet",
    summary = "A controller report (JSON or MessagePack), checked and published on reports.{customer}.",
    request_body(content = serde_json::Value, description = "the seed's report (customer_id, app_telemetry, …) as JSON, or the same as MessagePack", content_type = "application/json"),
    responses(
        (status = 202, description = "accepted, with its subject", content_type = "application/json"),
        (status = 400, description = "a request the endpoint refuses; `field` names what was wrong", body = crate::error::ErrorBody),
        (status = 401, description = "no or a wrong token (when auth is on)", body = crate::error::ErrorBody),
        (status = 403, description = "a controller token reporting for another customer", body = crate::error::ErrorBody),
    )
)]
async fn ingest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let report_check::Ingested { report, subject, msg_id } = report_check::ingest(&body, Timestamp::now())
        .map_err(|e| ApiError::bad_request(e.field, &e.reason))?;
    if let Some(own) = &caller.customer {
        if own != report.customer_id.as_str() {
            return Err(ApiError::Refused {
                field: "customer_id".to_owned(),
                reason: format!(
                    "this token reports as customer {own:?}, not {:?}",
                    report.customer_id.as_str()
                ),
            });
        }
    }
    let apps = report.app_telemetry.len();
    let issues: usize = report.app_telemetry.iter().map(|a| a.issues.len()).sum();
    let out =
        Outgoing::encode(subject.clone(), &report, msg_id).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ack = state
        .publisher
        .publish_and_wait(out)
        .await
        .map_err(|e| ApiError::Unavailable(format!("storing the report: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "accepted": true,
            "subject": subject.as_str(),
            "seq": ack.sequence,
            "duplicate": ack.duplicate,
            "reported_at": report.reported_at,
            "apps": apps,
            "issues": issues,
        })),
    ))
}
