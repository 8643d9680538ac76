//! What a caller may subscribe to, and which stream a filter reads.

use tailrace_nats::topology;
use tailrace_schemas::subject::roots;
use tailrace_schemas::SubjectFilter;

use crate::auth::{Access, Auth, Caller};
use crate::error::ApiError;

/// Subject roots and the streams that hold them.
const STREAMS: &[(&str, &str, Access)] = &[
    (roots::LOGS_RAW, topology::LOGS, Access::Read),
    (roots::LOGS_CLASSIFIED, topology::CLASSIFIED, Access::Read),
    (roots::FILES_SYNCED, topology::FILES, Access::Read),
    (roots::TELEMETRY, topology::TELEMETRY, Access::Read),
    (roots::ISSUES, topology::ISSUES, Access::Read),
    (roots::TAIL_STATUS, topology::STATUS, Access::Read),
    (roots::DERIVED, topology::DERIVED, Access::Read),
    (roots::REPORTS, topology::REPORTS, Access::Control),
    (roots::DLQ, topology::DLQ, Access::Control),
];

/// Parses `raw`, checks the caller may read it, and returns the stream that holds it.
pub fn resolve(raw: &str, auth: &Auth, caller: &Caller) -> Result<(SubjectFilter, &'static str), ApiError> {
    let filter = SubjectFilter::parse(raw).map_err(|e| ApiError::bad_request("subject", &e))?;
    for (root, stream, access) in STREAMS {
        let root = SubjectFilter::parse(root).expect("declared roots are valid");
        if filter.is_within(&root) {
            if let (true, Some(role)) = (auth.enabled(), caller.role) {
                if !role.grants(*access) {
                    return Err(ApiError::Forbidden { role, access: *access });
                }
            }
            return Ok((filter, stream));
        }
    }
    let readable: Vec<&str> = STREAMS.iter().map(|(r, _, _)| *r).collect();
    Err(ApiError::bad_request(
        "subject",
        &format!("{filter} is not inside one stream; subscribe within one of {}", readable.join(", ")),
    ))
}
