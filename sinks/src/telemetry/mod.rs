//! The telemetry table: every controller report of `reports.>` kept as a raw row for the
//! retention period and folded into rollups that keep fleet queries fast at fleet scale (per
//! app per hour and per day with sketches of peaks, the same per customer in shards, per
//! customer per day). [`TelemetryView`] answers the fleet queries.
//!
//! The sink reads reports whole rather than a message per app: at fleet scale a report carries
//! dozens of apps, and a message per app made the broker the limit (ARCHITECTURE.md, "Fleet
//! telemetry"). The report is checked as the splitter checks it ([`report_check::delivered`]),
//! so the two agree on what is refused and on the time of a report that has none.
//!
//! A report is counted once: its raw row's key is (customer, report time), and a report whose
//! raw row exists already (a redelivery past the duplicate window, a replay, the same report
//! published twice) changes nothing.

pub mod advice;
mod gathered;
pub mod mem_size;
mod query;
mod retain;
pub mod rollup;
pub mod sketch;
mod weeks;

use std::time::Duration;

pub use advice::Advice;
pub use query::{
    AppCustomerStats, AppDetail, CustomerAppSummary, CustomerSummary, FleetAppSummary, HourPoint, Period,
    TelemetryView,
};

use tailrace_nats::Delivery;
use tailrace_schemas::{report_check, StreamName, SubjectFilter, Timestamp};

use crate::retention::RetentionConfig;
use crate::runtime::Sink;
use crate::staged::{RowError, Staged};
use gathered::Gathered;
use rollup::{CustomerDay, CustomerRow, RawRow, ReportRowRef};

/// The `telemetry` sink.
#[derive(Debug, Default)]
pub struct TelemetrySink;

/// A second: fleet figures are hourly and daily, and every window rewrites the rollups of the
/// apps it touched once, however many reports it holds.
const WINDOW: Duration = Duration::from_secs(1);

impl Sink for TelemetrySink {
    fn name(&self) -> &'static str {
        "telemetry"
    }

    fn input(&self) -> (StreamName, Vec<SubjectFilter>) {
        (StreamName::REPORTS, Vec::new())
    }

    fn window(&self) -> Duration {
        WINDOW
    }

    /// 3: week rows beside the days (2: reports whole, per-customer shards, migrated; 1 was a
    /// message per app).
    fn layout(&self) -> u32 {
        3
    }

    fn migrate(&self, tree: &sled::Tree, from: u32) -> Result<bool, sled::Error> {
        if from != 2 {
            return Ok(false);
        }
        weeks::migrate_from_days(tree)?;
        Ok(true)
    }

    fn apply(&self, rows: &mut Staged, message: &Delivery) -> Result<(), String> {
        let report = report_check::delivered(message.subject(), message.payload(), message.stored_at())
            .map_err(|e| e.to_string())?;
        if report.app_telemetry.is_empty() {
            return Ok(()); // an old controller: nothing to count
        }
        let at = report.reported_at.expect("delivered gives every report a time");
        let customer = report.customer_id.as_str();
        let err = |e: RowError| e.to_string();
        let key = rollup::report_key(customer, at);
        if rows.contains(&key).map_err(|e| e.to_string())? {
            return Ok(());
        }
        let raws: Vec<(&str, RawRow)> =
            report.app_telemetry.iter().map(|a| (a.app_name.as_str(), RawRow::of(a, at))).collect();
        // The rows many reports share are folded when the window closes (`gathered.rs`); the
        // customer's own rows now.
        rows.gathered::<Gathered>()
            .add(customer, report.app_telemetry.iter().zip(raws.iter().map(|(_, r)| r)));
        let day = rollup::day_of(at);
        let days = rows.entry(&rollup::customer_day_key(customer, day), CustomerDay::default).map_err(err)?;
        for (a, (app, raw)) in report.app_telemetry.iter().zip(&raws) {
            rollup::slot(days, app).absorb(raw, &a.display_name, &a.catalog_limit);
        }
        let c = rows
            .entry(&rollup::customer_key(customer), || CustomerRow {
                customer_id: customer.to_owned(),
                apps: Default::default(),
                first_reported_at: at,
                last_reported_at: at,
            })
            .map_err(err)?;
        for (app, _) in &raws {
            if !c.apps.contains(*app) {
                c.apps.insert((*app).to_owned());
            }
        }
        c.first_reported_at = c.first_reported_at.min(at);
        c.last_reported_at = c.last_reported_at.max(at);
        rows.put_row(key, &ReportRowRef { apps: raws });
        Ok(())
    }

    fn close(&self, rows: &mut Staged) -> Result<(), String> {
        rows.take_gathered::<Gathered>().fold(rows).map_err(|e| e.to_string())
    }

    fn retain(&self, rows: &mut Staged, now: Timestamp, keep: &RetentionConfig) -> Result<u64, String> {
        retain::prune(rows, crate::retention::cutoff(now, keep.telemetry)).map_err(|e| e.to_string())
    }
}
