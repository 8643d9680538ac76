//! The seed's telemetry store, as the seed "App Telemetry & Analytics" task writes it: SQLite,
//! its `app_telemetry` and `app_log_issues` tables and indexes, `SaveAppTelemetry` (one
//! transaction per report, `upsertAppIssue` per issue with the affected customers kept as a JSON
//! array) and its queries, for `tailrace bench fleet` to load and query beside our tables.
//!
//! Only what the seed specifies is here; where it leaves a choice open the choice favours
//! SQLite: WAL with `synchronous = NORMAL` (its Go driver's default is a rollback journal with
//! full syncs), and the seed's fingerprint rule rather than ours.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use rusqlite::{params, Connection, OptionalExtension as _};
use tailrace_schemas::{Report, Timestamp};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS app_telemetry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    app_name TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    reported_at DATETIME NOT NULL,
    memory_current_mb REAL DEFAULT 0,
    memory_avg_mb REAL DEFAULT 0,
    memory_peak_mb REAL DEFAULT 0,
    cpu_avg_percent REAL DEFAULT 0,
    catalog_estimate TEXT DEFAULT '',
    catalog_limit TEXT DEFAULT '',
    log_errors INTEGER DEFAULT 0,
    log_warnings INTEGER DEFAULT 0,
    containers_json TEXT DEFAULT '[]',
    issues_json TEXT DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS idx_app_telemetry_lookup ON app_telemetry(app_name, reported_at);
CREATE INDEX IF NOT EXISTS idx_app_telemetry_customer ON app_telemetry(customer_id, app_name, reported_at);
CREATE INDEX IF NOT EXISTS idx_app_telemetry_prune ON app_telemetry(reported_at);
CREATE TABLE IF NOT EXISTS app_log_issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    occurrence_count INTEGER DEFAULT 1,
    affected_customers TEXT DEFAULT '[]',
    UNIQUE(app_name, fingerprint)
);
CREATE INDEX IF NOT EXISTS idx_app_log_issues_app ON app_log_issues(app_name, last_seen DESC);
";

/// One row of `GetFleetAppSummary`, with the P95 its second query adds.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub app_name: String,
    pub deployment_count: usize,
    pub avg_memory_mb: f64,
    pub peak_memory_mb: f64,
    pub p95_memory_mb: Option<f64>,
    pub total_errors: u64,
}

#[derive(Debug)]
pub struct SeedStore {
    conn: Connection,
}

/// Times as the Go driver writes them: text that sorts as time does.
fn time_text(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// The seed's fingerprint: leading timestamps stripped, UUIDs, long hex and 6+ digit runs
/// masked, trimmed and lowercased.
fn fingerprint(message: &str) -> String {
    static RULES: LazyLock<[(Regex, &str); 5]> = LazyLock::new(|| {
        let r = |p: &str| Regex::new(p).expect("the seed's patterns are valid");
        [
            (r(r"^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}[.\d]*[Z ]?"), ""),
            (r(r"^[A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} "), ""),
            (r(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<UUID>"),
            (r(r"(?i)\b[0-9a-f]{8,}\b"), "<HEX>"),
            (r(r"\d{6,}"), "<N>"),
        ]
    });
    let mut s = message.to_owned();
    for (re, with) in RULES.iter() {
        s = re.replace_all(&s, *with).into_owned();
    }
    s.trim().to_lowercase()
}

impl SeedStore {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// `SaveAppTelemetry`: the report's apps in one transaction, each issue upserted.
    pub fn save(&mut self, report: &Report) -> rusqlite::Result<()> {
        let at = time_text(report.reported_at.unwrap_or(Timestamp::EPOCH));
        let customer = report.customer_id.as_str();
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO app_telemetry (customer_id, app_name, display_name, reported_at, memory_current_mb,
                 memory_avg_mb, memory_peak_mb, cpu_avg_percent, catalog_estimate, catalog_limit, log_errors,
                 log_warnings, containers_json, issues_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for app in &report.app_telemetry {
                let issues = serde_json::to_string(&app.issues).unwrap_or_else(|_| "[]".into());
                let containers = serde_json::to_string(&app.containers).unwrap_or_else(|_| "[]".into());
                insert.execute(params![
                    customer,
                    app.app_name.as_str(),
                    app.display_name,
                    at,
                    app.memory_current_mb,
                    app.memory_avg_mb,
                    app.memory_peak_mb,
                    app.cpu_avg_percent,
                    app.catalog_estimate,
                    app.catalog_limit,
                    app.log_errors as i64,
                    app.log_warnings as i64,
                    containers,
                    issues
                ])?;
                for issue in &app.issues {
                    upsert_issue(&tx, app.app_name.as_str(), issue, customer)?;
                }
            }
        }
        tx.commit()
    }

    /// `GetFleetAppSummary(since)` and the P95 query for each app it returns.
    pub fn fleet_summary(&self, since: Timestamp) -> rusqlite::Result<Vec<FleetRow>> {
        let since = time_text(since);
        let mut rows = {
            let mut q = self.conn.prepare_cached(
                "SELECT app_name, MAX(display_name), COUNT(DISTINCT customer_id) AS deployment_count,
                 AVG(memory_avg_mb) AS avg_memory_mb, MAX(memory_peak_mb), AVG(cpu_avg_percent),
                 SUM(log_errors), SUM(log_warnings), MAX(catalog_estimate), MAX(catalog_limit)
                 FROM app_telemetry WHERE reported_at > ?1 GROUP BY app_name
                 ORDER BY deployment_count DESC, avg_memory_mb DESC",
            )?;
            let rows = q.query_map([&since], |r| {
                Ok(FleetRow {
                    app_name: r.get(0)?,
                    deployment_count: r.get::<_, i64>(2)? as usize,
                    avg_memory_mb: r.get(3)?,
                    peak_memory_mb: r.get(4)?,
                    p95_memory_mb: None,
                    total_errors: r.get::<_, i64>(6)? as u64,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        for row in &mut rows {
            row.p95_memory_mb = self.p95(&row.app_name, &since)?;
        }
        Ok(rows)
    }

    fn p95(&self, app: &str, since: &str) -> rusqlite::Result<Option<f64>> {
        self.conn
            .prepare_cached(
                "SELECT memory_peak_mb FROM app_telemetry WHERE app_name = ?1 AND reported_at > ?2
                 ORDER BY memory_peak_mb ASC LIMIT 1 OFFSET (
                   SELECT CAST(COUNT(*) * 0.95 AS INTEGER) FROM app_telemetry WHERE app_name = ?1 AND reported_at > ?2)",
            )?
            .query_row(params![app, since], |r| r.get(0))
            .optional()
    }

    /// What the seed's app page reads: the app's summary row and P95, its history
    /// (`GetAppTelemetryHistory`) and its customer breakdown (`GetAppCustomerBreakdown`).
    /// Returns the number of rows read, so the work cannot be optimized away.
    pub fn app_detail(&self, app: &str, since: Timestamp) -> rusqlite::Result<usize> {
        let since = time_text(since);
        let mut n = self
            .conn
            .prepare_cached(
                "SELECT COUNT(DISTINCT customer_id), AVG(memory_avg_mb), MAX(memory_peak_mb), AVG(cpu_avg_percent),
                 SUM(log_errors), SUM(log_warnings) FROM app_telemetry WHERE app_name = ?1 AND reported_at > ?2",
            )?
            .query_row(params![app, since], |r| r.get::<_, i64>(0))? as usize;
        n += usize::from(self.p95(app, &since)?.is_some());
        let mut history = self.conn.prepare_cached(
            "SELECT reported_at, customer_id, memory_avg_mb, memory_peak_mb, cpu_avg_percent, log_errors, log_warnings
             FROM app_telemetry WHERE app_name = ?1 AND reported_at > ?2 ORDER BY reported_at ASC",
        )?;
        let mut rows = history.query(params![app, since])?;
        while let Some(r) = rows.next()? {
            let _: (String, f64) = (r.get(1)?, r.get(3)?);
            n += 1;
        }
        let mut breakdown = self.conn.prepare_cached(
            "SELECT customer_id, AVG(memory_avg_mb), MAX(memory_peak_mb), AVG(cpu_avg_percent), SUM(log_errors),
             MAX(reported_at) FROM app_telemetry WHERE app_name = ?1 AND reported_at > ?2
             GROUP BY customer_id ORDER BY AVG(memory_avg_mb) DESC",
        )?;
        let mut rows = breakdown.query(params![app, since])?;
        while let Some(r) = rows.next()? {
            let _: f64 = r.get(1)?;
            n += 1;
        }
        Ok(n)
    }

    /// `GetCustomerAppSummary` the way the seed settles on: the period's figures per app, then
    /// each app's current memory from its latest report. Returns the rows read.
    pub fn customer_apps(&self, customer: &str, since: Timestamp) -> rusqlite::Result<usize> {
        let since = time_text(since);
        let mut summary = self.conn.prepare_cached(
            "SELECT app_name, MAX(display_name), AVG(memory_avg_mb), MAX(memory_peak_mb), MAX(catalog_limit),
             SUM(log_errors), SUM(log_warnings) FROM app_telemetry WHERE customer_id = ?1 AND reported_at > ?2
             GROUP BY app_name ORDER BY AVG(memory_avg_mb) DESC",
        )?;
        let apps = summary.query_map(params![customer, since], |r| r.get::<_, String>(0))?.count();
        let mut current = self.conn.prepare_cached(
            "SELECT app_name, memory_current_mb FROM app_telemetry WHERE customer_id = ?1 AND reported_at = (
               SELECT MAX(reported_at) FROM app_telemetry WHERE customer_id = ?1 AND app_name = app_telemetry.app_name)",
        )?;
        let current = current.query_map(params![customer], |r| r.get::<_, f64>(1))?.count();
        Ok(apps + current)
    }
}

/// `upsertAppIssue`: first and last seen, a count of reports, the affected customers' JSON
/// array read, extended and written back.
fn upsert_issue(
    tx: &rusqlite::Transaction<'_>,
    app: &str,
    issue: &tailrace_schemas::LogIssue,
    customer: &str,
) -> rusqlite::Result<()> {
    let fp = fingerprint(&issue.message);
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT affected_customers FROM app_log_issues WHERE app_name = ?1 AND fingerprint = ?2",
        )?
        .query_row(params![app, fp], |r| r.get(0))
        .optional()?;
    let mut customers: Vec<String> =
        existing.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
    if !customers.iter().any(|c| c == customer) {
        customers.push(customer.to_owned());
    }
    let affected = serde_json::to_string(&customers).unwrap_or_else(|_| "[]".into());
    let seen = time_text(issue.last_seen);
    let severity = serde_json::to_value(issue.severity).ok().and_then(|v| v.as_str().map(str::to_owned));
    tx.prepare_cached(
        "INSERT INTO app_log_issues (app_name, fingerprint, severity, message, first_seen, last_seen, affected_customers)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT(app_name, fingerprint) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen),
         occurrence_count = occurrence_count + 1, affected_customers = excluded.affected_customers",
    )?
    .execute(params![app, fp, severity.unwrap_or_default(), issue.message, seen, affected])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_fingerprint_masks_long_numbers_and_hex_but_keeps_ports_and_statuses() {
        assert_eq!(
            fingerprint("2026-01-02T03:04:05Z Worker 1234567 got 503 from 10.0.0.1:8080 id DEADBEEF12"),
            "worker <n> got 503 from 10.0.0.1:8080 id <hex>"
        );
    }
}
