//! Retention of the telemetry table, by whole UTC days so raw rows and rollups stay in step:
//! with a cutoff in day D, everything of the days before D goes (reports, hourly, daily and
//! per-customer rollups, the weeks before D's); D's week is made again from its days from D on; a customer whose last report of an app is before D is no longer that
//! app's deployment, an app or customer with no report since is removed from the lists; what
//! remains is untouched, so every figure over a period inside the retention is unchanged.

use std::collections::BTreeSet;

use tailrace_schemas::Timestamp;

use super::rollup::{self, AppInfo, Bucket, CustomerRow, SeenShard, DAY_SECS};
use super::weeks;
use crate::staged::Staged;

/// Stages the removals; returns how many rows go.
pub(super) fn prune(rows: &mut Staged, cutoff: Timestamp) -> Result<u64, sled::Error> {
    let day = rollup::day_of(cutoff);
    let start = Timestamp::from_unix_seconds(day * DAY_SECS);
    let tree = rows.tree().clone();
    let mut gone = Vec::new();
    // Keys below `to` under `prefix` go.
    let below = |gone: &mut Vec<Vec<u8>>, prefix: Vec<u8>, to: Vec<u8>| -> Result<(), sled::Error> {
        for item in tree.range(prefix..to) {
            gone.push(item?.0.to_vec());
        }
        Ok(())
    };
    let apps: Vec<AppInfo> = scan(&tree, rollup::APP_PREFIX)?;
    // (customer, app) pairs with no report since the cutoff.
    let mut emptied: BTreeSet<(String, String)> = BTreeSet::new();
    let mut removed_apps = Vec::new();
    for app in &apps {
        let name = app.app_name.as_str();
        for bucket in Bucket::ALL {
            let first = bucket.of(start);
            below(&mut gone, bucket.fleet_prefix(name), bucket.fleet_key(name, first).to_vec())?;
            below(&mut gone, bucket.customers_prefix(name), bucket.customers_from(name, first))?;
        }
        if day.rem_euclid(rollup::WEEK_DAYS) != 0 {
            for (key, row) in weeks::of_days(&tree, name, rollup::week_of_day(day), day)? {
                match row {
                    Some(row) => rows.insert(key, row),
                    None => rows.remove(key),
                }
            }
        }
        for item in tree.scan_prefix(rollup::seen_prefix(name)) {
            let (key, value) = item?;
            let Ok(mut seen) = rmp_serde::from_slice::<SeenShard>(&value) else { continue };
            let before = seen.len();
            seen.retain(|customer, last| {
                let keep = *last >= start;
                if !keep {
                    emptied.insert((customer.to_string(), name.to_owned()));
                }
                keep
            });
            if seen.is_empty() {
                gone.push(key.to_vec());
            } else if seen.len() != before {
                rows.put_row(key.to_vec(), &seen);
            }
        }
        if app.last_reported_at < start {
            gone.push(rollup::app_key(name).to_vec());
            removed_apps.push(name.to_owned());
        }
    }
    let customers: Vec<CustomerRow> = scan(&tree, rollup::CUSTOMER_PREFIX)?;
    for c in &customers {
        let id = c.customer_id.as_str();
        below(&mut gone, rollup::report_prefix(id), rollup::report_key(id, start))?;
        below(&mut gone, rollup::customer_day_prefix(id), rollup::customer_day_key(id, day))?;
    }
    let removed = gone.len() as u64;
    for key in gone {
        rows.remove(key);
    }
    // Lists: apps a customer no longer reports, and first-report times inside the retention.
    for info in apps.iter().filter(|a| !removed_apps.contains(&a.app_name)) {
        if info.first_reported_at < start {
            let mut info = info.clone();
            info.first_reported_at = start;
            rows.put_row(rollup::app_key(&info.app_name).to_vec(), &info);
        }
    }
    for mut c in customers {
        c.apps.retain(|a| !emptied.contains(&(c.customer_id.clone(), a.clone())));
        let key = rollup::customer_key(&c.customer_id);
        if c.apps.is_empty() {
            rows.remove(key);
        } else {
            c.first_reported_at = c.first_reported_at.max(start);
            rows.put_row(key, &c);
        }
    }
    Ok(removed)
}

fn scan<T: serde::de::DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, sled::Error> {
    let mut out = Vec::new();
    for item in tree.scan_prefix(prefix) {
        if let Ok(row) = rmp_serde::from_slice(&item?.1) {
            out.push(row);
        }
    }
    Ok(out)
}
