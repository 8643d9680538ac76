//! The telemetry table: every [`AppTelemetry`] of `telemetry.app.>` kept as a raw row for the
//! retention period and folded into rollups that keep fleet queries fast at fleet scale (per
//! app per hour and per day with sketches of peaks, per app per customer per day), plus the
//! latest report of each app at each customer. [`TelemetryView`] answers the fleet queries.
//!
//! A report is counted once: its raw row's key is (app, customer, report time), and a message
//! whose raw row exists already (a redelivery past the duplicate window, a replay) changes
//! nothing.

pub mod advice;
pub mod mem_size;
mod query;
mod retain;
pub mod rollup;
pub mod sketch;

pub use advice::Advice;
pub use query::{
    AppCustomerStats, AppDetail, CustomerAppSummary, CustomerSummary, FleetAppSummary, HourPoint, Period,
    TelemetryView,
};

use tailrace_schemas::{decode, AppTelemetry, StreamName, SubjectFilter, Timestamp};

use crate::retention::RetentionConfig;

use crate::runtime::Sink;
use crate::staged::Staged;
use rollup::{AppInfo, CustomerRow, Latest, RawRow, Rollup};

/// The `telemetry` sink.
#[derive(Debug, Default)]
pub struct TelemetrySink;

impl Sink for TelemetrySink {
    fn name(&self) -> &'static str {
        "telemetry"
    }

    fn input(&self) -> (StreamName, Vec<SubjectFilter>) {
        (StreamName::TELEMETRY, vec![SubjectFilter::parse("telemetry.app.>").expect("a valid filter")])
    }

    fn apply(&self, rows: &mut Staged, _subject: &str, payload: &[u8]) -> Result<(), String> {
        let t: AppTelemetry = decode(payload).map_err(|e| e.to_string())?;
        let app = t.app.app_name.as_str();
        let customer = t.customer_id.as_str();
        let raw_key = rollup::raw_key(app, customer, t.reported_at);
        if rows.contains(&raw_key).map_err(|e| e.to_string())? {
            return Ok(());
        }
        let raw = RawRow::of(&t);
        rows.put_row(raw_key, &raw);
        let hour = rollup::hour_of(t.reported_at);
        let day = rollup::day_of(t.reported_at);
        let err = |e: crate::staged::RowError| e.to_string();
        rows.entry(&rollup::hour_key(app, hour), Rollup::with_sketch).map_err(err)?.absorb(&raw);
        rows.entry(&rollup::day_key(app, day), Rollup::with_sketch).map_err(err)?.absorb(&raw);
        rows.entry(&rollup::customer_day_key(app, customer, day), Rollup::default).map_err(err)?.absorb(&raw);

        let latest = Latest {
            reported_at: t.reported_at,
            memory_current_mb: t.app.memory_current_mb,
            display_name: t.app.display_name.clone(),
            catalog_estimate: t.app.catalog_estimate.clone(),
            catalog_limit: t.app.catalog_limit.clone(),
        };
        let l = rows.entry(&rollup::latest_key(app, customer), || latest.clone()).map_err(err)?;
        if latest.reported_at >= l.reported_at {
            *l = latest;
        }

        let info = rows
            .entry(&rollup::app_key(app), || AppInfo {
                app_name: app.to_owned(),
                display_name: String::new(),
                catalog_estimate: String::new(),
                catalog_limit: String::new(),
                first_reported_at: t.reported_at,
                last_reported_at: t.reported_at,
            })
            .map_err(err)?;
        info.first_reported_at = info.first_reported_at.min(t.reported_at);
        if t.reported_at >= info.last_reported_at || info.display_name.is_empty() {
            info.last_reported_at = info.last_reported_at.max(t.reported_at);
            if !t.app.display_name.is_empty() {
                info.display_name.clone_from(&t.app.display_name);
            }
            info.catalog_estimate.clone_from(&t.app.catalog_estimate);
            info.catalog_limit.clone_from(&t.app.catalog_limit);
        }

        let c = rows
            .entry(&rollup::customer_key(customer), || CustomerRow {
                customer_id: customer.to_owned(),
                apps: Default::default(),
                first_reported_at: t.reported_at,
                last_reported_at: t.reported_at,
            })
            .map_err(err)?;
        if !c.apps.contains(app) {
            c.apps.insert(app.to_owned());
        }
        c.first_reported_at = c.first_reported_at.min(t.reported_at);
        c.last_reported_at = c.last_reported_at.max(t.reported_at);
        Ok(())
    }

    fn retain(&self, rows: &mut Staged, now: Timestamp, keep: &RetentionConfig) -> Result<u64, String> {
        retain::prune(rows, crate::retention::cutoff(now, keep.telemetry)).map_err(|e| e.to_string())
    }
}
