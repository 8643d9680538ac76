//! The rows of the telemetry table and how one [`AppTelemetry`] changes them.
//!
//! | key | row | for |
//! | --- | --- | --- |
//! | `r/{app}\0{customer}\0{time}` | [`RawRow`]: the report's figures for the app | retention, a customer's last 24 h, "counted once" |
//! | `h/{app}\0{hour}` | [`Rollup`] with a sketch of peaks | fleet figures over 24 h, the hourly chart |
//! | `d/{app}\0{day}` | [`Rollup`] with a sketch of peaks | fleet figures over 7 and 30 days |
//! | `c/{app}\0{customer}\0{day}` | [`Rollup`] without a sketch | one customer's figures over days |
//! | `l/{app}\0{customer}` | [`Latest`] | current memory, deployments (customers seen since a time) |
//! | `a/{app}` | [`AppInfo`] | the list of apps, their names and catalog values |
//! | `u/{customer}` | [`CustomerRow`] | the list of customers and their apps |
//!
//! Times in keys are big-endian with the sign bit flipped, so keys sort by time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tailrace_schemas::{AppTelemetry, Timestamp};

use super::sketch::PeakSketch;

pub(crate) const HOUR_SECS: i64 = 3600;
pub(crate) const DAY_SECS: i64 = 24 * HOUR_SECS;

/// A number in a key, ordered as numbers are.
pub(crate) fn ordered(n: i64) -> [u8; 8] {
    ((n as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn hour_of(t: Timestamp) -> i64 {
    t.as_unix_seconds().div_euclid(HOUR_SECS)
}

pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_unix_seconds().div_euclid(DAY_SECS)
}

pub(crate) fn raw_prefix(app: &str, customer: &str) -> Vec<u8> {
    [b"r/", app.as_bytes(), b"\0", customer.as_bytes(), b"\0"].concat()
}

pub(crate) fn raw_key(app: &str, customer: &str, at: Timestamp) -> Vec<u8> {
    [raw_prefix(app, customer).as_slice(), &ordered(at.as_nanos())].concat()
}

pub(crate) fn hour_key(app: &str, hour: i64) -> Vec<u8> {
    [b"h/", app.as_bytes(), b"\0", &ordered(hour)].concat()
}

pub(crate) fn day_key(app: &str, day: i64) -> Vec<u8> {
    [b"d/", app.as_bytes(), b"\0", &ordered(day)].concat()
}

pub(crate) fn customer_day_prefix(app: &str, customer: &str) -> Vec<u8> {
    [b"c/", app.as_bytes(), b"\0", customer.as_bytes(), b"\0"].concat()
}

pub(crate) fn customer_day_key(app: &str, customer: &str, day: i64) -> Vec<u8> {
    [customer_day_prefix(app, customer).as_slice(), &ordered(day)].concat()
}

pub(crate) fn latest_prefix(app: &str) -> Vec<u8> {
    [b"l/", app.as_bytes(), b"\0"].concat()
}

pub(crate) fn latest_key(app: &str, customer: &str) -> Vec<u8> {
    [latest_prefix(app).as_slice(), customer.as_bytes()].concat()
}

pub(crate) const APP_PREFIX: &[u8] = b"a/";
pub(crate) const CUSTOMER_PREFIX: &[u8] = b"u/";

pub(crate) fn app_key(app: &str) -> Vec<u8> {
    [APP_PREFIX, app.as_bytes()].concat()
}

pub(crate) fn customer_key(customer: &str) -> Vec<u8> {
    [CUSTOMER_PREFIX, customer.as_bytes()].concat()
}

/// One report's figures for one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRow {
    pub reported_at: Timestamp,
    pub memory_current_mb: f64,
    pub memory_avg_mb: f64,
    pub memory_peak_mb: f64,
    pub cpu_avg_percent: f64,
    pub log_errors: u64,
    pub log_warnings: u64,
    #[serde(default)]
    pub oom_kills: u64,
    #[serde(default)]
    pub restarts: u64,
}

impl RawRow {
    pub fn of(t: &AppTelemetry) -> Self {
        let a = &t.app;
        Self {
            reported_at: t.reported_at,
            memory_current_mb: a.memory_current_mb,
            memory_avg_mb: a.memory_avg_mb,
            memory_peak_mb: a.memory_peak_mb,
            cpu_avg_percent: a.cpu_avg_percent,
            log_errors: a.log_errors,
            log_warnings: a.log_warnings,
            oom_kills: a.oom_kills.unwrap_or(0),
            restarts: a.restarts.unwrap_or(0),
        }
    }
}

/// Sums, counts and maxima of many reports of one app (over an hour or a day, for the fleet or
/// for one customer): everything the seed's aggregate queries compute, mergeable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rollup {
    /// Reports folded in (the seed's `COUNT(*)`).
    pub reports: u64,
    pub sum_memory_avg_mb: f64,
    pub max_memory_peak_mb: f64,
    pub sum_cpu_avg_percent: f64,
    pub log_errors: u64,
    pub log_warnings: u64,
    pub oom_kills: u64,
    pub restarts: u64,
    pub first_reported_at: Timestamp,
    pub last_reported_at: Timestamp,
    /// Peaks, for quantiles (fleet rollups only).
    pub peaks: Option<PeakSketch>,
}

impl Rollup {
    pub(crate) fn with_sketch() -> Self {
        Self { peaks: Some(PeakSketch::default()), ..Self::default() }
    }

    pub fn absorb(&mut self, r: &RawRow) {
        self.first_reported_at =
            if self.reports == 0 { r.reported_at } else { self.first_reported_at.min(r.reported_at) };
        self.reports += 1;
        self.sum_memory_avg_mb += r.memory_avg_mb;
        self.max_memory_peak_mb = self.max_memory_peak_mb.max(r.memory_peak_mb);
        self.sum_cpu_avg_percent += r.cpu_avg_percent;
        self.log_errors += r.log_errors;
        self.log_warnings += r.log_warnings;
        self.oom_kills += r.oom_kills;
        self.restarts += r.restarts;
        self.last_reported_at = self.last_reported_at.max(r.reported_at);
        if let Some(p) = &mut self.peaks {
            p.add(r.memory_peak_mb);
        }
    }

    pub fn merge(&mut self, o: &Rollup) {
        if o.reports == 0 {
            return;
        }
        self.first_reported_at = if self.reports == 0 {
            o.first_reported_at
        } else {
            self.first_reported_at.min(o.first_reported_at)
        };
        self.reports += o.reports;
        self.sum_memory_avg_mb += o.sum_memory_avg_mb;
        self.max_memory_peak_mb = self.max_memory_peak_mb.max(o.max_memory_peak_mb);
        self.sum_cpu_avg_percent += o.sum_cpu_avg_percent;
        self.log_errors += o.log_errors;
        self.log_warnings += o.log_warnings;
        self.oom_kills += o.oom_kills;
        self.restarts += o.restarts;
        self.last_reported_at = self.last_reported_at.max(o.last_reported_at);
        match (&mut self.peaks, &o.peaks) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.peaks = Some(theirs.clone()),
            _ => {}
        }
    }

    /// The seed's `AVG(memory_avg_mb)`.
    pub fn avg_memory_mb(&self) -> f64 {
        if self.reports == 0 {
            0.0
        } else {
            self.sum_memory_avg_mb / self.reports as f64
        }
    }

    /// The seed's `AVG(cpu_avg_percent)`.
    pub fn avg_cpu(&self) -> f64 {
        if self.reports == 0 {
            0.0
        } else {
            self.sum_cpu_avg_percent / self.reports as f64
        }
    }
}

/// The last report of one app at one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    pub reported_at: Timestamp,
    pub memory_current_mb: f64,
    pub display_name: String,
    pub catalog_estimate: String,
    pub catalog_limit: String,
}

/// An app as last reported anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    pub app_name: String,
    pub display_name: String,
    pub catalog_estimate: String,
    pub catalog_limit: String,
    pub first_reported_at: Timestamp,
    pub last_reported_at: Timestamp,
}

/// A customer and the apps it reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub customer_id: String,
    pub apps: BTreeSet<String>,
    pub first_reported_at: Timestamp,
    pub last_reported_at: Timestamp,
}
