//! The apps' figures of one window's reports, gathered by app and folded into the rows many
//! reports share (an app's hour, day and week, its customer and seen shards, its info) when the
//! window closes.
//!
//! Why not fold each report as it comes: a report carries every app of a customer, so folding
//! it touches eight shared rows per app, hundreds of rows per report, in an order that visits
//! every row of the window over and over; those rows outgrow the CPU's caches and every lookup
//! was a miss (a fifth of ingest, BENCHMARKS.md). Gathered by app, an app's rows are taken out
//! of the window once and its figures folded into them one after another.
//!
//! Folding gives the same rows as folding report by report: each row gets exactly the figures
//! it would have got, in the order the reports came (an app's figures are kept in that order),
//! so sums, maxima, sketches and "the latest report says" come out bit for bit the same.

use tailrace_schemas::AppReport;

use super::rollup::{self, AppInfo, Bucket, CustomerShard, Name, Names, RawRow, Rollup, SeenShard, SHARDS};
use crate::staged::{RowError, Staged};

/// What a window's reports said, by app.
#[derive(Debug, Default)]
pub(super) struct Gathered {
    apps: Vec<AppFigures>,
    app_ids: Names<u32>,
    customers: Vec<Name>,
    customer_ids: Names<u32>,
}

/// One app's figures in a window, in the order the reports came.
#[derive(Debug)]
struct AppFigures {
    name: Name,
    /// The names and catalog values reports gave, each run of equal ones once.
    labels: Vec<Labels>,
    figures: Vec<Figure>,
}

#[derive(Debug, PartialEq, Eq)]
struct Labels {
    display_name: String,
    catalog_estimate: String,
    catalog_limit: String,
}

impl Labels {
    fn same_as(&self, a: &AppReport) -> bool {
        self.display_name == a.display_name
            && self.catalog_estimate == a.catalog_estimate
            && self.catalog_limit == a.catalog_limit
    }
}

#[derive(Debug)]
struct Figure {
    raw: RawRow,
    customer: u32,
    labels: u32,
    shard: u8,
}

impl Gathered {
    /// Gathers one report's figures (`raws`, one per app of `apps`) of `customer`.
    pub(super) fn add<'a>(
        &mut self,
        customer: &str,
        apps: impl IntoIterator<Item = (&'a AppReport, &'a RawRow)>,
    ) {
        let customer_id = match self.customer_ids.get(customer) {
            Some(&id) => id,
            None => {
                let id = self.customers.len() as u32;
                self.customers.push(customer.into());
                self.customer_ids.insert(customer.into(), id);
                id
            }
        };
        let shard = rollup::shard_of(customer);
        for (a, raw) in apps {
            let app = match self.app_ids.get(a.app_name.as_str()) {
                Some(&id) => &mut self.apps[id as usize],
                None => {
                    self.app_ids.insert(a.app_name.as_str().into(), self.apps.len() as u32);
                    self.apps.push(AppFigures {
                        name: a.app_name.as_str().into(),
                        labels: Vec::new(),
                        figures: Vec::new(),
                    });
                    self.apps.last_mut().expect("just pushed")
                }
            };
            if !app.labels.last().is_some_and(|l| l.same_as(a)) {
                app.labels.push(Labels {
                    display_name: a.display_name.clone(),
                    catalog_estimate: a.catalog_estimate.clone(),
                    catalog_limit: a.catalog_limit.clone(),
                });
            }
            let labels = app.labels.len() as u32 - 1;
            app.figures.push(Figure { raw: raw.clone(), customer: customer_id, labels, shard });
        }
    }

    /// Folds everything gathered into the rows.
    pub(super) fn fold(&self, rows: &mut Staged) -> Result<(), RowError> {
        for app in &self.apps {
            fold_app(rows, app, &self.customers)?;
        }
        Ok(())
    }
}

/// The rows of one bucket (an hour, a day, a week) of one app, taken out of the window.
struct BucketRows {
    bucket: Bucket,
    at: i64,
    fleet: Box<Rollup>,
    /// By shard, taken when a figure of the shard first comes.
    customers: Vec<Option<Box<CustomerShard>>>,
}

impl BucketRows {
    fn take(rows: &mut Staged, app: &str, bucket: Bucket, at: i64) -> Result<Self, RowError> {
        let fleet = rows.take(&bucket.fleet_key(app, at), Rollup::with_sketch)?;
        Ok(Self { bucket, at, fleet, customers: (0..SHARDS).map(|_| None).collect() })
    }

    fn customers(&mut self, rows: &mut Staged, app: &str, shard: u8) -> Result<&mut CustomerShard, RowError> {
        let held = &mut self.customers[usize::from(shard)];
        if held.is_none() {
            *held = Some(rows.take(&self.bucket.customers_key(app, self.at, shard), CustomerShard::default)?);
        }
        Ok(held.as_mut().expect("just taken"))
    }

    fn hold(self, rows: &mut Staged, app: &str) {
        rows.hold(self.bucket.fleet_key(app, self.at), self.fleet);
        for (shard, row) in self.customers.into_iter().enumerate() {
            if let Some(row) = row {
                rows.hold(self.bucket.customers_key(app, self.at, shard as u8), row);
            }
        }
    }
}

/// Folds one app's figures into its rows, each row taken out of the window once per run of
/// figures that go into it.
fn fold_app(rows: &mut Staged, app: &AppFigures, customers: &[Name]) -> Result<(), RowError> {
    let name = app.name.as_str();
    let Some(first) = app.figures.first() else { return Ok(()) };
    let info_key = rollup::app_key(name);
    let first_at = first.raw.reported_at;
    let mut info = rows.take(&info_key, || AppInfo {
        app_name: name.to_owned(),
        display_name: String::new(),
        catalog_estimate: String::new(),
        catalog_limit: String::new(),
        first_reported_at: first_at,
        last_reported_at: first_at,
    })?;
    let mut buckets: [Option<BucketRows>; 3] = [None, None, None];
    let mut seen: Vec<Option<Box<SeenShard>>> = (0..SHARDS).map(|_| None).collect();
    for figure in &app.figures {
        let raw = &figure.raw;
        let at = raw.reported_at;
        let labels = &app.labels[figure.labels as usize];
        let customer = customers[figure.customer as usize].as_str();
        for (held, bucket) in buckets.iter_mut().zip(Bucket::ALL) {
            let n = bucket.of(at);
            if held.as_ref().is_none_or(|h| h.at != n) {
                if let Some(old) = held.take() {
                    old.hold(rows, name);
                }
                *held = Some(BucketRows::take(rows, name, bucket, n)?);
            }
            let held = held.as_mut().expect("just taken");
            held.fleet.absorb(raw);
            let shard = held.customers(rows, name, figure.shard)?;
            rollup::slot(shard, customer).absorb(raw, &labels.display_name, &labels.catalog_limit);
        }
        let shard = &mut seen[usize::from(figure.shard)];
        if shard.is_none() {
            *shard = Some(rows.take(&rollup::seen_key(name, figure.shard), SeenShard::default)?);
        }
        let last = rollup::slot(shard.as_mut().expect("just taken"), customer);
        *last = (*last).max(at);

        info.first_reported_at = info.first_reported_at.min(at);
        if at >= info.last_reported_at || info.display_name.is_empty() {
            info.last_reported_at = info.last_reported_at.max(at);
            if !labels.display_name.is_empty() {
                info.display_name.clone_from(&labels.display_name);
            }
            info.catalog_estimate.clone_from(&labels.catalog_estimate);
            info.catalog_limit.clone_from(&labels.catalog_limit);
        }
    }
    for held in buckets.into_iter().flatten() {
        held.hold(rows, name);
    }
    for (shard, row) in seen.into_iter().enumerate() {
        if let Some(row) = row {
            rows.hold(rollup::seen_key(name, shard as u8), row);
        }
    }
    rows.hold::<AppInfo>(info_key, info);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tailrace_schemas::Timestamp;

    use super::*;

    fn app(name: &str, display: &str, limit: &str, peak: f64) -> AppReport {
        serde_json::from_value(serde_json::json!({
            "app_name": name, "display_name": display, "catalog_estimate": "256M", "catalog_limit": limit,
            "memory_current_mb": peak / 2.0, "memory_avg_mb": peak * 0.7, "memory_peak_mb": peak,
            "cpu_avg_percent": peak / 10.0, "log_errors": 1, "log_warnings": 2, "oom_kills": 1,
        }))
        .expect("an app report")
    }

    /// Reports that stress the order of folding: customers of one shard and of others, hours
    /// across a day's and a week's end, a late report, two customers at the same instant with
    /// other names for the app, an app named by no report at first.
    fn reports() -> Vec<(String, Vec<AppReport>, Timestamp)> {
        // A Wednesday 22:00 UTC: the week's last day starts two hours later.
        let start = 20_453 * 86_400 + 22 * 3600;
        let mut out = Vec::new();
        for i in 0..60i64 {
            let customer = format!("c-{:02}", i % 23);
            let at = Timestamp::from_unix_seconds(start + (i % 7) * 1_900 - if i == 41 { 30_000 } else { 0 });
            let display = if i < 10 {
                ""
            } else if i % 2 == 0 {
                "Billing"
            } else {
                "Billing (new)"
            };
            let apps = vec![
                app(
                    "billing",
                    display,
                    if i % 3 == 0 { "512M" } else { "1G" },
                    100.0 + (i * 37 % 90) as f64 * 1.1,
                ),
                app("search", "Search", "2G", 900.0 - i as f64 * 3.3),
            ];
            out.push((customer, apps, at));
        }
        out
    }

    fn add(g: &mut Gathered, customer: &str, apps: &[AppReport], at: Timestamp) {
        let raws: Vec<RawRow> = apps.iter().map(|a| RawRow::of(a, at)).collect();
        g.add(customer, apps.iter().zip(&raws));
    }

    /// Every row of `tree`, decoded to compare as values (a hashed map's encoded order may
    /// differ between two equal rows).
    fn rows_of(tree: &sled::Tree) -> BTreeMap<Vec<u8>, serde_json::Value> {
        tree.iter()
            .map(|kv| {
                let (k, v) = kv.expect("a row");
                (k.to_vec(), rmp_serde::from_slice(&v).expect("a row decodes"))
            })
            .collect()
    }

    fn fold_into(tree: &sled::Tree, g: &Gathered) {
        let mut rows = Staged::new(tree.clone());
        g.fold(&mut rows).expect("folds");
        tree.apply_batch(rows.into_rows_batch()).expect("writes");
    }

    #[test]
    fn folding_a_window_at_once_gives_the_rows_of_folding_each_report_alone() {
        let db = sled::Config::new().temporary(true).open().expect("a temporary table");
        let (alone, at_once) = (db.open_tree("alone").unwrap(), db.open_tree("at_once").unwrap());
        let mut window = Gathered::default();
        for (customer, apps, at) in reports() {
            let mut one = Gathered::default();
            add(&mut one, &customer, &apps, at);
            fold_into(&alone, &one);
            add(&mut window, &customer, &apps, at);
        }
        fold_into(&at_once, &window);
        let (alone, at_once) = (rows_of(&alone), rows_of(&at_once));
        // Hours, days, weeks, their customer shards, seen shards and app rows of two apps.
        assert!(alone.len() > 20, "the reports touch many rows: {}", alone.len());
        assert_eq!(alone.len(), at_once.len());
        for (key, row) in &alone {
            assert_eq!(Some(row), at_once.get(key), "row {}", String::from_utf8_lossy(key));
        }
    }
}
