//! [`AppTelemetry`]: one app's figures from one report (`telemetry.app.{app}.{customer}`), split
//! out of a [`crate::Report`] so the telemetry sink reads only what it stores.

use serde::{Deserialize, Serialize};

use crate::codec::{v1, Payload};
use crate::ids::CustomerId;
use crate::report::AppReport;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppTelemetry {
    #[serde(default = "v1")]
    pub v: u16,
    pub customer_id: CustomerId,
    pub reported_at: Timestamp,
    pub app: AppReport,
}

impl Payload for AppTelemetry {
    const KIND: &'static str = "AppTelemetry";
    const VERSION: u16 = 1;
}
