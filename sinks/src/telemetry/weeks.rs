//! Week rows made again from day rows: what retention does to the week it cuts into (the days
//! before the cutoff are gone, so the week must not count them), and what the migration from
//! layout 2 (no weeks) does for every week. Reports keep their week rows up to date as they
//! arrive; this is only for rows that must be made from what the table already holds.

use std::collections::BTreeMap;

use super::rollup::{self, Bucket, CustomerShard, Rollup, SHARDS, WEEK_DAYS};
use crate::staged::encode;

/// A row to write (`Some`) or remove (`None`), by key.
pub(super) type RowWrite = (Vec<u8>, Option<Vec<u8>>);

/// The rows of `app`'s week `week` as its days from `first_day` on make them: the fleet rollup
/// and the customer shards, each with `None` where the days hold nothing (the row goes).
pub(super) fn of_days(
    tree: &sled::Tree,
    app: &str,
    week: i64,
    first_day: i64,
) -> Result<Vec<RowWrite>, sled::Error> {
    let end_day = (week + 1) * WEEK_DAYS;
    let first_day = first_day.max(week * WEEK_DAYS);
    let mut fleet = Rollup::with_sketch();
    for item in tree.range(Bucket::Day.fleet_key(app, first_day)..Bucket::Day.fleet_key(app, end_day)) {
        if let Ok(day) = rmp_serde::from_slice::<Rollup>(&item?.1) {
            fleet.merge(&day);
        }
    }
    let mut shards: BTreeMap<u8, CustomerShard> = BTreeMap::new();
    let days = Bucket::Day.customers_from(app, first_day)..Bucket::Day.customers_from(app, end_day);
    for item in tree.range(days) {
        let (key, value) = item?;
        let shard = *key.last().expect("a shard key ends with its shard");
        let Ok(day) = rmp_serde::from_slice::<CustomerShard>(&value) else { continue };
        let merged = shards.entry(shard).or_default();
        for (customer, figures) in day {
            rollup::slot(merged, &customer).merge(&figures);
        }
    }
    let mut rows =
        vec![(Bucket::Week.fleet_key(app, week).to_vec(), (fleet.reports > 0).then(|| encode(&fleet)))];
    for shard in 0..SHARDS {
        let row = shards.remove(&shard).filter(|s| !s.is_empty());
        rows.push((Bucket::Week.customers_key(app, week, shard).to_vec(), row.as_ref().map(encode)));
    }
    Ok(rows)
}

/// Layout 2 → 3: week rows for every week the day rows hold.
pub(super) fn migrate_from_days(tree: &sled::Tree) -> Result<(), sled::Error> {
    let mut weeks: BTreeMap<String, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for item in tree.scan_prefix(b"d/") {
        let (key, _) = item?;
        let Some(app) = key[2..].split(|b| *b == 0).next() else { continue };
        if key.len() != 2 + app.len() + 1 + 8 {
            continue;
        }
        let day = rollup::ordered_at(&key, key.len());
        weeks.entry(String::from_utf8_lossy(app).into_owned()).or_default().insert(rollup::week_of_day(day));
    }
    for (app, weeks) in weeks {
        let mut batch = sled::Batch::default();
        for week in weeks {
            for (key, row) in of_days(tree, &app, week, week * WEEK_DAYS)? {
                match row {
                    Some(row) => batch.insert(key, row),
                    None => batch.remove(key),
                }
            }
        }
        tree.apply_batch(batch)?;
    }
    Ok(())
}
