//! [`TelemetryView`]: the read side of the telemetry table (the seed's store queries), for the
//! gateway. It only reads.
//!
//! Periods are whole buckets ending now: `24h` is this hour and the 23 before it (from hourly
//! rollups), `7d` and `30d` are today (UTC) and the 6 or 29 days before (from daily rollups up to
//! the first whole week, weekly ones after: `Period::spans`). So every figure is a merge of a
//! few dozen rows however many reports the fleet sends.

use std::collections::{BTreeMap, HashMap};

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::Serialize;
use tailrace_schemas::Timestamp;

use super::advice::{self, Advice};
use super::mem_size::parse_mb;
use super::rollup::{
    self, AppInfo, AtCustomer, Bucket, CustomerDay, CustomerRow, RawRow, ReportRow, Rollup, SeenShard,
    DAY_SECS, HOUR_SECS,
};
use crate::tables::{Tables, TablesError};

/// The seed's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    Day,
    #[default]
    Week,
    Month,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "7d",
            Period::Month => "30d",
        }
    }

    /// The start of the period's first bucket.
    pub fn since(self, now: Timestamp) -> Timestamp {
        let secs = match self {
            Period::Day => (rollup::hour_of(now) - 23) * HOUR_SECS,
            Period::Week => (rollup::day_of(now) - 6) * DAY_SECS,
            Period::Month => (rollup::day_of(now) - 29) * DAY_SECS,
        };
        Timestamp::from_unix_seconds(secs)
    }

    /// The rollups the period is read from, fewest first: 24 h its hours; 7 and 30 days the
    /// days before the first whole week, then the weeks (the last one is this week, so far).
    /// Each is (bucket, first, end), `end` exclusive, `None` for no end.
    fn spans(self, now: Timestamp) -> Vec<(Bucket, i64, Option<i64>)> {
        let since = self.since(now);
        if self == Period::Day {
            return vec![(Bucket::Hour, rollup::hour_of(since), None)];
        }
        let first_day = rollup::day_of(since);
        let first_week =
            first_day.div_euclid(rollup::WEEK_DAYS) + i64::from(first_day.rem_euclid(rollup::WEEK_DAYS) != 0);
        let week_start = first_week * rollup::WEEK_DAYS;
        let mut spans = Vec::with_capacity(2);
        if first_day < week_start {
            spans.push((Bucket::Day, first_day, Some(week_start)));
        }
        spans.push((Bucket::Week, first_week, None));
        spans
    }
}

/// The seed's estimate-accuracy dot: red when P95 is over the catalog limit, yellow when over
/// half of it, green below; `unknown` when the limit is not a size.
pub fn accuracy(p95_mb: Option<f64>, limit: &str) -> &'static str {
    match (p95_mb, parse_mb(limit)) {
        (Some(p), Some(l)) if l > 0.0 && p > l => "red",
        (Some(p), Some(l)) if l > 0.0 && p > 0.5 * l => "yellow",
        (Some(_), Some(l)) if l > 0.0 => "green",
        _ => "unknown",
    }
}

/// One app across the fleet over a period (the seed's `FleetAppSummary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetAppSummary {
    pub app_name: String,
    pub display_name: String,
    /// Distinct customers that reported the app in the period.
    pub deployment_count: usize,
    pub avg_memory_mb: f64,
    pub peak_memory_mb: f64,
    /// The seed's P95 of memory peaks, within the sketch's 1 %.
    pub p95_memory_mb: Option<f64>,
    pub avg_cpu: f64,
    pub total_errors: u64,
    pub total_warnings: u64,
    pub catalog_estimate: String,
    pub catalog_limit: String,
    pub catalog_limit_mb: Option<f64>,
    pub estimate_accuracy: &'static str,
    pub reports: u64,
    pub oom_kills: u64,
    pub restarts: u64,
    pub first_report: Timestamp,
    pub last_report: Timestamp,
}

/// One app with its advice (`/api/v1/apps/{app}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppDetail {
    #[serde(flatten)]
    pub summary: FleetAppSummary,
    pub suggested_limit_mb: Option<u64>,
    pub advice: Advice,
    pub period: &'static str,
    pub since: Timestamp,
}

/// One hour of one app across the fleet (the chart).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourPoint {
    pub hour: Timestamp,
    pub reports: u64,
    pub avg_memory_mb: f64,
    pub peak_memory_mb: f64,
    pub p95_memory_mb: Option<f64>,
    pub avg_cpu: f64,
    pub log_errors: u64,
    pub log_warnings: u64,
}

/// One customer of one app over a period (the seed's `AppCustomerStats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppCustomerStats {
    pub customer_id: String,
    pub reports: u64,
    pub avg_memory_mb: f64,
    pub peak_memory_mb: f64,
    pub avg_cpu: f64,
    pub total_errors: u64,
    pub total_warnings: u64,
    pub oom_kills: u64,
    pub memory_current_mb: f64,
    pub last_report: Timestamp,
}

/// A customer (`/api/v1/customers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerSummary {
    pub customer_id: String,
    pub app_count: usize,
    pub apps: Vec<String>,
    pub first_report: Timestamp,
    pub last_report: Timestamp,
}

/// One app at one customer (the seed's `CustomerAppSummary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerAppSummary {
    pub app_name: String,
    pub display_name: String,
    pub memory_current_mb: f64,
    /// Over the period (7 days by default, as the seed's page).
    pub memory_avg_mb: f64,
    pub memory_peak_mb: f64,
    pub catalog_limit: String,
    pub catalog_limit_mb: Option<f64>,
    /// The current memory against the limit: `ok`, `warn` (over 70 %), `danger` (over 90 %),
    /// `unknown` (no limit).
    pub memory_state: &'static str,
    pub log_errors: u64,
    pub log_warnings: u64,
    pub reports: u64,
    pub last_report: Timestamp,
}

/// An app's customers over a period, each merged over the period's buckets.
type ByCustomer = HashMap<String, AtCustomer, foldhash::fast::RandomState>;

/// Merges one stored [`CustomerShard`](rollup::CustomerShard) into a [`ByCustomer`] as it decodes, with the customer
/// borrowed from the row: a 30-day breakdown reads 480 shards of ~60 customers at fleet scale,
/// and building each shard's map (a name allocated, a value moved per customer) and merging it
/// after was nearly all of the query.
struct MergeShard<'a>(&'a mut ByCustomer);

impl<'de> DeserializeSeed<'de> for MergeShard<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MergeShard<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of customers to their figures")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(customer) = map.next_key::<&'de str>()? {
            let figures: AtCustomer = map.next_value()?;
            match self.0.get_mut(customer) {
                Some(merged) => merged.merge(&figures),
                None => {
                    self.0.insert(customer.to_owned(), figures);
                }
            }
        }
        Ok(())
    }
}

/// Read-only access to the telemetry table.
#[derive(Debug, Clone)]
pub struct TelemetryView {
    tree: sled::Tree,
    tables: Tables,
}

impl TelemetryView {
    pub fn new(tables: &Tables) -> Result<Self, TablesError> {
        Ok(Self { tree: tables.tree("telemetry")?, tables: tables.clone() })
    }

    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        from: Vec<u8>,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), TablesError>> + '_ {
        let prefix = prefix.to_vec();
        self.tree
            .range(from..)
            .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .filter_map(|item| match item {
                Err(e) => Some(Err(self.tables.err(e))),
                Ok((k, v)) => rmp_serde::from_slice::<T>(&v).ok().map(|row| Ok((k.to_vec(), row))),
            })
    }

    fn get<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, TablesError> {
        Ok(self.tree.get(key).map_err(|e| self.tables.err(e))?.and_then(|v| rmp_serde::from_slice(&v).ok()))
    }

    /// Every app ever reported, by name.
    pub fn apps(&self) -> Result<Vec<AppInfo>, TablesError> {
        self.rows::<AppInfo>(rollup::APP_PREFIX.to_vec(), rollup::APP_PREFIX)
            .map(|r| r.map(|(_, a)| a))
            .collect()
    }

    /// What was last reported of `app` anywhere; `None` if it never was.
    pub fn app_info(&self, app: &str) -> Result<Option<AppInfo>, TablesError> {
        self.get(&rollup::app_key(app))
    }

    /// The fleet rollup of `app` over `period`.
    fn fleet_rollup(&self, app: &str, period: Period, now: Timestamp) -> Result<Rollup, TablesError> {
        let mut total = Rollup::with_sketch();
        for (bucket, first, end) in period.spans(now) {
            let from = bucket.fleet_key(app, first).to_vec();
            let end = end.map(|e| bucket.fleet_key(app, e).to_vec());
            for row in self.rows::<Rollup>(from, &bucket.fleet_prefix(app)) {
                let (key, row) = row?;
                if end.as_ref().is_some_and(|end| key >= *end) {
                    break;
                }
                total.merge(&row);
            }
        }
        Ok(total)
    }

    /// How many customers reported `app` since `since` (the seed's distinct customers).
    fn deployments(&self, app: &str, since: Timestamp) -> Result<usize, TablesError> {
        let prefix = rollup::seen_prefix(app);
        let mut n = 0;
        for shard in self.rows::<SeenShard>(prefix.clone(), &prefix) {
            n += shard?.1.values().filter(|last| **last >= since).count();
        }
        Ok(n)
    }

    fn summary(
        &self,
        info: &AppInfo,
        period: Period,
        now: Timestamp,
    ) -> Result<FleetAppSummary, TablesError> {
        let since = period.since(now);
        let r = self.fleet_rollup(&info.app_name, period, now)?;
        let deployments = self.deployments(&info.app_name, since)?;
        let p95 = r.peaks.as_ref().and_then(|p| p.seed_quantile(0.95));
        Ok(FleetAppSummary {
            app_name: info.app_name.clone(),
            display_name: info.display_name.clone(),
            deployment_count: deployments,
            avg_memory_mb: r.avg_memory_mb(),
            peak_memory_mb: r.max_memory_peak_mb,
            p95_memory_mb: p95,
            avg_cpu: r.avg_cpu(),
            total_errors: r.log_errors,
            total_warnings: r.log_warnings,
            catalog_estimate: info.catalog_estimate.clone(),
            catalog_limit: info.catalog_limit.clone(),
            catalog_limit_mb: parse_mb(&info.catalog_limit),
            estimate_accuracy: accuracy(p95, &info.catalog_limit),
            reports: r.reports,
            oom_kills: r.oom_kills,
            restarts: r.restarts,
            first_report: r.first_reported_at,
            last_report: r.last_reported_at,
        })
    }

    /// The fleet app summary: every app reported in the period (the seed's
    /// `GetFleetAppSummary`, ordered by deployments then average memory, descending).
    pub fn fleet(&self, period: Period, now: Timestamp) -> Result<Vec<FleetAppSummary>, TablesError> {
        let mut out = Vec::new();
        for info in self.apps()? {
            let s = self.summary(&info, period, now)?;
            if s.reports > 0 {
                out.push(s);
            }
        }
        out.sort_by(|a, b| {
            b.deployment_count.cmp(&a.deployment_count).then(b.avg_memory_mb.total_cmp(&a.avg_memory_mb))
        });
        Ok(out)
    }

    /// One app with its advice; `None` if it was never reported.
    pub fn app(&self, app: &str, period: Period, now: Timestamp) -> Result<Option<AppDetail>, TablesError> {
        let Some(info) = self.app_info(app)? else { return Ok(None) };
        let summary = self.summary(&info, period, now)?;
        let customers = self.customers_of(app, period, now)?;
        let peaks: Vec<(String, f64)> = customers
            .iter()
            .filter(|c| c.reports > 0)
            .map(|c| (c.customer_id.clone(), c.peak_memory_mb))
            .collect();
        let since = period.since(now);
        let span = (summary.last_report.as_unix_seconds() - summary.first_report.as_unix_seconds()).max(0);
        let advice = advice::advise(&advice::Inputs {
            p95_memory_mb: summary.p95_memory_mb,
            reports: summary.reports,
            span_secs: span,
            customer_peaks: &peaks,
            oom_kills: summary.oom_kills,
            current_limit_mb: summary.catalog_limit_mb,
        });
        Ok(Some(AppDetail {
            suggested_limit_mb: advice.suggested_limit_mb,
            summary,
            advice,
            period: period.as_str(),
            since,
        }))
    }

    /// Hourly buckets of `app` over `period` (the seed's history, bucketed as its chart does).
    pub fn history(&self, app: &str, period: Period, now: Timestamp) -> Result<Vec<HourPoint>, TablesError> {
        let prefix = Bucket::Hour.fleet_prefix(app);
        let from = Bucket::Hour.fleet_key(app, rollup::hour_of(period.since(now))).to_vec();
        self.rows::<Rollup>(from, &prefix)
            .map(|r| {
                r.map(|(k, h)| {
                    let n = rollup::ordered_at(&k, k.len());
                    HourPoint {
                        hour: Timestamp::from_unix_seconds(n * HOUR_SECS),
                        reports: h.reports,
                        avg_memory_mb: h.avg_memory_mb(),
                        peak_memory_mb: h.max_memory_peak_mb,
                        p95_memory_mb: h.peaks.as_ref().and_then(|p| p.seed_quantile(0.95)),
                        avg_cpu: h.avg_cpu(),
                        log_errors: h.log_errors,
                        log_warnings: h.log_warnings,
                    }
                })
            })
            .collect()
    }

    /// The customers of `app` over `period`, each merged over the period's buckets.
    fn customer_figures(&self, app: &str, period: Period, now: Timestamp) -> Result<ByCustomer, TablesError> {
        let mut out = ByCustomer::default();
        for (bucket, first, end) in period.spans(now) {
            let prefix = bucket.customers_prefix(app);
            let end = end.map(|e| bucket.customers_from(app, e));
            for item in self.tree.range(bucket.customers_from(app, first)..) {
                let (k, v) = item.map_err(|e| self.tables.err(e))?;
                if !k.starts_with(&prefix) || end.as_ref().is_some_and(|end| k.as_ref() >= end.as_slice()) {
                    break;
                }
                // A shard that does not decode is skipped, as `rows` skips any row.
                let _ = MergeShard(&mut out).deserialize(&mut rmp_serde::Deserializer::from_read_ref(&v[..]));
            }
        }
        Ok(out)
    }

    /// The customers of `app` over `period`, by average memory descending (the seed's
    /// `GetAppCustomerBreakdown`).
    pub fn customers_of(
        &self,
        app: &str,
        period: Period,
        now: Timestamp,
    ) -> Result<Vec<AppCustomerStats>, TablesError> {
        let mut out: Vec<AppCustomerStats> = self
            .customer_figures(app, period, now)?
            .into_iter()
            .map(|(customer, f)| AppCustomerStats {
                customer_id: customer,
                reports: f.rollup.reports,
                avg_memory_mb: f.rollup.avg_memory_mb(),
                peak_memory_mb: f.rollup.max_memory_peak_mb,
                avg_cpu: f.rollup.avg_cpu(),
                total_errors: f.rollup.log_errors,
                total_warnings: f.rollup.log_warnings,
                oom_kills: f.rollup.oom_kills,
                memory_current_mb: f.memory_current_mb,
                last_report: f.rollup.last_reported_at,
            })
            .collect();
        out.sort_by(|a, b| {
            b.avg_memory_mb.total_cmp(&a.avg_memory_mb).then(a.customer_id.cmp(&b.customer_id))
        });
        Ok(out)
    }

    /// Every customer that ever reported.
    pub fn customers(&self) -> Result<Vec<CustomerSummary>, TablesError> {
        self.rows::<CustomerRow>(rollup::CUSTOMER_PREFIX.to_vec(), rollup::CUSTOMER_PREFIX)
            .map(|r| {
                r.map(|(_, c)| CustomerSummary {
                    app_count: c.apps.len(),
                    apps: c.apps.into_iter().collect(),
                    customer_id: c.customer_id,
                    first_report: c.first_reported_at,
                    last_report: c.last_reported_at,
                })
            })
            .collect()
    }

    /// One customer, or `None` if it never reported.
    pub fn customer(&self, customer: &str) -> Result<Option<CustomerRow>, TablesError> {
        self.get(&rollup::customer_key(customer))
    }

    /// The apps of `customer` over `period` (the seed's `GetCustomerAppSummary`): current
    /// memory, average and peak, limit, errors and warnings; by average memory descending.
    pub fn customer_apps(
        &self,
        customer: &str,
        period: Period,
        now: Timestamp,
    ) -> Result<Option<Vec<CustomerAppSummary>>, TablesError> {
        let Some(c) = self.customer(customer)? else { return Ok(None) };
        let since = period.since(now);
        // Over the period: from its reports (24 h) or its days.
        let mut over: BTreeMap<String, Rollup> = BTreeMap::new();
        if period == Period::Day {
            let prefix = rollup::report_prefix(customer);
            for row in self.rows::<ReportRow>(rollup::report_key(customer, since), &prefix) {
                for (app, raw) in row?.1.apps {
                    over.entry(app).or_default().absorb(&raw);
                }
            }
        } else {
            let prefix = rollup::customer_day_prefix(customer);
            for row in
                self.rows::<CustomerDay>(rollup::customer_day_key(customer, rollup::day_of(since)), &prefix)
            {
                for (app, f) in row?.1 {
                    over.entry(app.into()).or_default().merge(&f.rollup);
                }
            }
        }
        // The latest of each app, from its last day, whenever that was.
        let mut latest: BTreeMap<String, AtCustomer> = BTreeMap::new();
        let prefix = rollup::customer_day_prefix(customer);
        for item in self.tree.scan_prefix(&prefix).rev() {
            let (_, v) = item.map_err(|e| self.tables.err(e))?;
            let Ok(day) = rmp_serde::from_slice::<CustomerDay>(&v) else { continue };
            for (app, f) in day {
                latest.entry(app.into()).or_insert(f);
            }
            if c.apps.iter().all(|a| latest.contains_key(a)) {
                break;
            }
        }
        let mut out = Vec::new();
        for app in &c.apps {
            let Some(last) = latest.remove(app) else { continue };
            let r = over.remove(app).unwrap_or_default();
            let limit = parse_mb(&last.catalog_limit);
            let current = last.memory_current_mb;
            out.push(CustomerAppSummary {
                app_name: app.clone(),
                display_name: last.display_name,
                memory_current_mb: current,
                memory_avg_mb: r.avg_memory_mb(),
                memory_peak_mb: r.max_memory_peak_mb,
                memory_state: match limit {
                    Some(l) if l > 0.0 && current > 0.9 * l => "danger",
                    Some(l) if l > 0.0 && current > 0.7 * l => "warn",
                    Some(l) if l > 0.0 => "ok",
                    _ => "unknown",
                },
                catalog_limit: last.catalog_limit,
                catalog_limit_mb: limit,
                log_errors: r.log_errors,
                log_warnings: r.log_warnings,
                reports: r.reports,
                last_report: last.rollup.last_reported_at,
            });
        }
        out.sort_by(|a, b| b.memory_avg_mb.total_cmp(&a.memory_avg_mb).then(a.app_name.cmp(&b.app_name)));
        Ok(Some(out))
    }

    /// Raw rows of `app` (for tools and tests), by customer then time.
    pub fn raw(&self, app: &str) -> Result<BTreeMap<String, Vec<RawRow>>, TablesError> {
        let mut out: BTreeMap<String, Vec<RawRow>> = BTreeMap::new();
        for c in self.customers()? {
            let prefix = rollup::report_prefix(&c.customer_id);
            for row in self.rows::<ReportRow>(prefix.clone(), &prefix) {
                for (a, raw) in row?.1.apps {
                    if a == app {
                        out.entry(c.customer_id.clone()).or_default().push(raw);
                    }
                }
            }
        }
        Ok(out)
    }
}
