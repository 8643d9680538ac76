//! Retention of the telemetry table, by whole UTC days so raw rows and rollups stay in step:
//! with a cutoff in day D, everything of the days before D goes (raw rows, hourly, daily and
//! per-customer rollups); an app or customer with no report since is removed from the lists;
//! what remains is untouched, so every figure over a period inside the retention is unchanged.

use tailrace_schemas::Timestamp;

use super::rollup::{self, AppInfo, CustomerRow, Latest, DAY_SECS, HOUR_SECS};
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
    let mut emptied_customers: Vec<(String, String)> = Vec::new();
    let mut removed_apps = Vec::new();
    for app in &apps {
        let name = app.app_name.as_str();
        below(
            &mut gone,
            [b"h/", name.as_bytes(), b"\0"].concat(),
            rollup::hour_key(name, day * DAY_SECS / HOUR_SECS),
        )?;
        below(&mut gone, [b"d/", name.as_bytes(), b"\0"].concat(), rollup::day_key(name, day))?;
        let latest_prefix = rollup::latest_prefix(name);
        for item in tree.scan_prefix(&latest_prefix) {
            let (key, value) = item?;
            let customer = String::from_utf8_lossy(&key[latest_prefix.len()..]).into_owned();
            let raw = rollup::raw_prefix(name, &customer);
            below(&mut gone, raw.clone(), [raw.as_slice(), &rollup::ordered(start.as_nanos())].concat())?;
            let days = rollup::customer_day_prefix(name, &customer);
            below(&mut gone, days, rollup::customer_day_key(name, &customer, day))?;
            if rmp_serde::from_slice::<Latest>(&value).map_or(true, |l| l.reported_at < start) {
                gone.push(key.to_vec());
                emptied_customers.push((customer, name.to_owned()));
            }
        }
        if app.last_reported_at < start {
            gone.push(rollup::app_key(name));
            removed_apps.push(name.to_owned());
        }
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
            rows.put_row(rollup::app_key(&info.app_name), &info);
        }
    }
    for mut c in scan::<CustomerRow>(&tree, rollup::CUSTOMER_PREFIX)? {
        c.apps.retain(|a| !emptied_customers.iter().any(|(cust, app)| cust == &c.customer_id && app == a));
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
