//! The rows of the telemetry table and how one report changes them.
//!
//! | key | row | for |
//! | --- | --- | --- |
//! | `r/{customer}\0{time}` | [`ReportRow`]: the report's figures per app | retention, a customer's last 24 h, "counted once" |
//! | `h/{app}\0{hour}` | [`Rollup`] with a sketch of peaks | fleet figures over 24 h, the hourly chart |
//! | `d/{app}\0{day}` | [`Rollup`] with a sketch of peaks | fleet figures over 7 and 30 days: the days before the first whole week |
//! | `w/{app}\0{week}` | [`Rollup`] with a sketch of peaks | fleet figures over 7 and 30 days: the weeks |
//! | `hc/{app}\0{hour}\0{shard}` | [`CustomerShard`] | an app's customers over 24 h |
//! | `dc/{app}\0{day}\0{shard}` | [`CustomerShard`] | an app's customers over 7 and 30 days: the days before the first whole week |
//! | `wc/{app}\0{week}\0{shard}` | [`CustomerShard`] | an app's customers over 7 and 30 days: the weeks |
//! | `s/{app}\0{shard}` | [`SeenShard`]: each customer's last report of the app | deployments (customers seen since a time) |
//! | `c/{customer}\0{day}` | [`CustomerDay`]: the day's figures per app | one customer's apps over days |
//! | `a/{app}` | [`AppInfo`] | the list of apps, their names and catalog values |
//! | `u/{customer}` | [`CustomerRow`] | the list of customers and their apps |
//!
//! Why this shape: a report carries every app of a customer (50 in a fleet bench), and sled's
//! cost is per key touched, so a report writes two keys of its own (`r/`, `c/`) and the rest goes
//! into rows shared by many reports (an app's hour, day and customer shards), which a window of
//! reports changes in memory and writes once. Per-customer figures are split into
//! [`SHARDS`] rows per bucket by a stable hash of the customer, so a window with few reports
//! rewrites small rows, and a query for an app's customers reads a few dozen rows, not one per
//! customer and day.
//!
//! Weeks are seven days counted from the epoch's first day (a Thursday), not calendar weeks:
//! they only make long periods cheap to read. Thirty days are at most 6 days and 5 weeks, so a
//! 30-day breakdown reads at most 176 customer shards instead of 480.
//!
//! Times in keys are big-endian with the sign bit flipped, so keys sort by time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tailrace_schemas::{AppReport, Timestamp};

use super::sketch::PeakSketch;
use crate::staged::RowKey;

pub(crate) const HOUR_SECS: i64 = 3600;
pub(crate) const DAY_SECS: i64 = 24 * HOUR_SECS;
/// Rows per (app, bucket) that hold its customers.
pub const SHARDS: u8 = 16;

/// A number in a key, ordered as numbers are.
pub(crate) fn ordered(n: i64) -> [u8; 8] {
    ((n as u64) ^ (1 << 63)).to_be_bytes()
}

/// The number [`ordered`] wrote at the end of `key`.
pub(crate) fn ordered_at(key: &[u8], end: usize) -> i64 {
    (i64::from_be_bytes(key[end - 8..end].try_into().expect("8 bytes"))) ^ i64::MIN
}

pub(crate) fn hour_of(t: Timestamp) -> i64 {
    t.as_unix_seconds().div_euclid(HOUR_SECS)
}

pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_unix_seconds().div_euclid(DAY_SECS)
}

pub(crate) const WEEK_DAYS: i64 = 7;

/// The week (of [`Bucket::Week`]) that holds `day`.
pub(crate) fn week_of_day(day: i64) -> i64 {
    day.div_euclid(WEEK_DAYS)
}

/// The shard of `customer`: FNV-1a, stable across builds and platforms (rows are keyed by it).
pub(crate) fn shard_of(customer: &str) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in customer.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h % u32::from(SHARDS)) as u8
}

/// The key of a row many reports share, built without allocating: a report looks up eight of
/// them per app, and a window keeps only the first copy of each.
fn shared_key(parts: &[&[u8]]) -> RowKey {
    let mut key = RowKey::new();
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub(crate) fn report_prefix(customer: &str) -> Vec<u8> {
    [b"r/", customer.as_bytes(), b"\0"].concat()
}

pub(crate) fn report_key(customer: &str, at: Timestamp) -> Vec<u8> {
    [b"r/", customer.as_bytes(), b"\0", &ordered(at.as_nanos())].concat()
}

/// The bucket sizes of the fleet rollups; every report goes into one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    Hour,
    Day,
    Week,
}

impl Bucket {
    pub(crate) const ALL: [Bucket; 3] = [Bucket::Hour, Bucket::Day, Bucket::Week];

    pub(crate) fn of(self, t: Timestamp) -> i64 {
        match self {
            Bucket::Hour => hour_of(t),
            Bucket::Day => day_of(t),
            Bucket::Week => week_of_day(day_of(t)),
        }
    }

    fn fleet_tag(self) -> &'static [u8] {
        match self {
            Bucket::Hour => b"h/",
            Bucket::Day => b"d/",
            Bucket::Week => b"w/",
        }
    }

    fn customers_tag(self) -> &'static [u8] {
        match self {
            Bucket::Hour => b"hc/",
            Bucket::Day => b"dc/",
            Bucket::Week => b"wc/",
        }
    }

    /// `h/{app}\0` or `d/{app}\0`.
    pub(crate) fn fleet_prefix(self, app: &str) -> Vec<u8> {
        [self.fleet_tag(), app.as_bytes(), b"\0"].concat()
    }

    pub(crate) fn fleet_key(self, app: &str, bucket: i64) -> RowKey {
        shared_key(&[self.fleet_tag(), app.as_bytes(), b"\0", &ordered(bucket)])
    }

    /// `hc/{app}\0` or `dc/{app}\0`.
    pub(crate) fn customers_prefix(self, app: &str) -> Vec<u8> {
        [self.customers_tag(), app.as_bytes(), b"\0"].concat()
    }

    /// The first key of `bucket` among an app's customer shards.
    pub(crate) fn customers_from(self, app: &str, bucket: i64) -> Vec<u8> {
        [self.customers_tag(), app.as_bytes(), b"\0", &ordered(bucket)].concat()
    }

    pub(crate) fn customers_key(self, app: &str, bucket: i64, shard: u8) -> RowKey {
        shared_key(&[self.customers_tag(), app.as_bytes(), b"\0", &ordered(bucket), &[shard]])
    }
}

pub(crate) fn seen_prefix(app: &str) -> Vec<u8> {
    [b"s/", app.as_bytes(), b"\0"].concat()
}

pub(crate) fn seen_key(app: &str, shard: u8) -> RowKey {
    shared_key(&[b"s/", app.as_bytes(), b"\0", &[shard]])
}

pub(crate) fn customer_day_prefix(customer: &str) -> Vec<u8> {
    [b"c/", customer.as_bytes(), b"\0"].concat()
}

pub(crate) fn customer_day_key(customer: &str, day: i64) -> Vec<u8> {
    [b"c/", customer.as_bytes(), b"\0", &ordered(day)].concat()
}

pub(crate) const APP_PREFIX: &[u8] = b"a/";
pub(crate) const CUSTOMER_PREFIX: &[u8] = b"u/";

pub(crate) fn app_key(app: &str) -> RowKey {
    shared_key(&[APP_PREFIX, app.as_bytes()])
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
    pub fn of(a: &AppReport, reported_at: Timestamp) -> Self {
        Self {
            reported_at,
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

/// One report: every app's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    pub apps: Vec<(String, RawRow)>,
}

/// A [`ReportRow`] as the sink writes it, borrowing the report's app names (encoded alike).
#[derive(Serialize)]
pub(crate) struct ReportRowRef<'a> {
    pub apps: Vec<(&'a str, RawRow)>,
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
    /// Peaks, for quantiles (fleet rollups only). Boxed: a rollup without one (every customer's
    /// figures) stays small to move, and a 30-day breakdown moves tens of thousands of them.
    pub peaks: Option<Box<PeakSketch>>,
}

impl Rollup {
    pub(crate) fn with_sketch() -> Self {
        Self { peaks: Some(Box::default()), ..Self::default() }
    }

    pub fn absorb(&mut self, r: &RawRow) {
        self.first_reported_at =
            if self.reports == 0 { r.reported_at } else { self.first_reported_at.min(r.reported_at) };
        self.last_reported_at =
            if self.reports == 0 { r.reported_at } else { self.last_reported_at.max(r.reported_at) };
        self.reports += 1;
        self.sum_memory_avg_mb += r.memory_avg_mb;
        self.max_memory_peak_mb = self.max_memory_peak_mb.max(r.memory_peak_mb);
        self.sum_cpu_avg_percent += r.cpu_avg_percent;
        self.log_errors += r.log_errors;
        self.log_warnings += r.log_warnings;
        self.oom_kills += r.oom_kills;
        self.restarts += r.restarts;
        if let Some(p) = &mut self.peaks {
            p.add(r.memory_peak_mb);
        }
    }

    pub fn merge(&mut self, o: &Rollup) {
        if o.reports == 0 {
            return;
        }
        let first = self.reports == 0;
        self.first_reported_at =
            if first { o.first_reported_at } else { self.first_reported_at.min(o.first_reported_at) };
        self.last_reported_at =
            if first { o.last_reported_at } else { self.last_reported_at.max(o.last_reported_at) };
        self.reports += o.reports;
        self.sum_memory_avg_mb += o.sum_memory_avg_mb;
        self.max_memory_peak_mb = self.max_memory_peak_mb.max(o.max_memory_peak_mb);
        self.sum_cpu_avg_percent += o.sum_cpu_avg_percent;
        self.log_errors += o.log_errors;
        self.log_warnings += o.log_warnings;
        self.oom_kills += o.oom_kills;
        self.restarts += o.restarts;
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

/// One app at one customer over a bucket: its rollup and what its latest report said.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AtCustomer {
    pub rollup: Rollup,
    /// Of the latest report folded in.
    pub memory_current_mb: f64,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub catalog_limit: String,
}

impl AtCustomer {
    /// Folds in one report's figures and, if it is the latest, its app's names.
    pub fn absorb(&mut self, r: &RawRow, display_name: &str, catalog_limit: &str) {
        let latest = self.rollup.reports == 0 || r.reported_at >= self.rollup.last_reported_at;
        self.rollup.absorb(r);
        if latest {
            self.memory_current_mb = r.memory_current_mb;
            if self.display_name != display_name {
                display_name.clone_into(&mut self.display_name);
            }
            if self.catalog_limit != catalog_limit {
                catalog_limit.clone_into(&mut self.catalog_limit);
            }
        }
    }

    pub fn merge(&mut self, o: &AtCustomer) {
        let latest = self.rollup.reports == 0 || o.rollup.last_reported_at >= self.rollup.last_reported_at;
        self.rollup.merge(&o.rollup);
        if latest && o.rollup.reports > 0 {
            self.memory_current_mb = o.memory_current_mb;
            self.display_name.clone_from(&o.display_name);
            self.catalog_limit.clone_from(&o.catalog_limit);
        }
    }
}

pub use crate::names::{slot, Name, Names};

/// The customers of one app in one bucket whose shard is this row's.
pub type CustomerShard = Names<AtCustomer>;

/// When each customer (of one shard) last reported one app.
pub type SeenShard = Names<Timestamp>;

/// One customer's apps over one day.
pub type CustomerDay = Names<AtCustomer>;

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
