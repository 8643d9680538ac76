//! The report of a window, in the seed's shape: members' figures and log scans summed per app
//! (the seed's `buildAppTelemetry`), apps sorted by name, issues capped per app and in all.

use std::collections::{BTreeMap, HashMap};

use tailrace_schemas::{AppName, AppReport, CustomerId, Fingerprint, LogIssue, Report, Timestamp};

use crate::scan::{rank, ISSUES_IN_ALL, ISSUES_PER_MEMBER};
use crate::window::Figures;

/// One member's part of its app's report.
#[derive(Debug, Clone, Default)]
pub struct Part {
    pub name: String,
    pub figures: Figures,
    pub errors: u64,
    pub warnings: u64,
    pub issues: Vec<(Fingerprint, LogIssue)>,
}

/// What the catalog (config or labels) says of an app.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub display_name: String,
    pub catalog_estimate: String,
    pub catalog_limit: String,
}

/// The report of `customer` made `at`, from each app's parts.
pub fn build(
    customer: &CustomerId,
    at: Timestamp,
    hostname: Option<String>,
    apps: BTreeMap<String, (Catalog, Vec<Part>)>,
) -> Report {
    let mut out = Vec::with_capacity(apps.len());
    for (app, (catalog, parts)) in apps {
        let mut a = AppReport {
            app_name: AppName::new(app),
            display_name: catalog.display_name,
            containers: parts.iter().map(|p| p.name.clone()).collect(),
            memory_current_mb: 0.0,
            memory_avg_mb: 0.0,
            memory_peak_mb: 0.0,
            cpu_avg_percent: 0.0,
            catalog_estimate: catalog.catalog_estimate,
            catalog_limit: catalog.catalog_limit,
            log_errors: 0,
            log_warnings: 0,
            issues: Vec::new(),
            oom_kills: None,
            restarts: Some(0),
            sample_count: Some(0),
        };
        let mut issues: HashMap<Fingerprint, LogIssue> = HashMap::new();
        for p in parts {
            // The seed sums every figure over the stack's containers, peaks included: the app's
            // peak is what its containers could need at once.
            a.memory_current_mb += p.figures.memory_current_mb;
            a.memory_avg_mb += p.figures.memory_avg_mb;
            a.memory_peak_mb += p.figures.memory_peak_mb;
            a.cpu_avg_percent += p.figures.cpu_avg_percent;
            a.log_errors += p.errors;
            a.log_warnings += p.warnings;
            if let Some(n) = p.figures.oom_kills {
                *a.oom_kills.get_or_insert(0) += n;
            }
            *a.restarts.get_or_insert(0) += p.figures.restarts;
            a.sample_count = a.sample_count.max(Some(p.figures.samples));
            for (fp, issue) in p.issues {
                match issues.get_mut(&fp) {
                    Some(known) => {
                        known.count += issue.count;
                        if issue.last_seen > known.last_seen {
                            known.last_seen = issue.last_seen;
                            known.message = issue.message;
                            known.severity = issue.severity;
                        }
                    }
                    None => {
                        issues.insert(fp, issue);
                    }
                }
            }
        }
        a.issues = issues.into_values().collect();
        rank(&mut a.issues);
        a.issues.truncate(ISSUES_PER_MEMBER);
        for f in
            [&mut a.memory_current_mb, &mut a.memory_avg_mb, &mut a.memory_peak_mb, &mut a.cpu_avg_percent]
        {
            *f = round2(*f);
        }
        out.push(a);
    }
    cap_in_all(&mut out);
    Report {
        v: 1,
        customer_id: customer.clone(),
        reported_at: Some(at),
        controller_version: Some(format!("tailrace {}", env!("CARGO_PKG_VERSION"))),
        hostname,
        app_telemetry: out,
    }
}

/// Keeps the [`ISSUES_IN_ALL`] most frequent issues of the report.
fn cap_in_all(apps: &mut [AppReport]) {
    let mut all: Vec<(usize, LogIssue)> =
        apps.iter().enumerate().flat_map(|(i, a)| a.issues.iter().map(move |x| (i, x.clone()))).collect();
    if all.len() <= ISSUES_IN_ALL {
        return;
    }
    all.sort_by(|(_, a), (_, b)| crate::scan::order(a, b));
    all.truncate(ISSUES_IN_ALL);
    for a in apps.iter_mut() {
        a.issues.clear();
    }
    for (i, issue) in all {
        apps[i].issues.push(issue);
    }
    for a in apps.iter_mut() {
        rank(&mut a.issues);
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailrace_schemas::Severity;

    fn issue(message: &str, count: u64, s: i64) -> LogIssue {
        LogIssue {
            severity: Severity::Error,
            message: message.into(),
            count,
            last_seen: Timestamp::from_unix_seconds(s),
            fingerprint: None,
        }
    }

    #[test]
    fn sums_an_apps_containers_and_merges_their_issues_as_the_seed_does() {
        let figures = |cur, avg, peak, cpu| Figures {
            memory_current_mb: cur,
            memory_avg_mb: avg,
            memory_peak_mb: peak,
            cpu_avg_percent: cpu,
            samples: 3,
            oom_kills: Some(1),
            restarts: 0,
        };
        let web = Part {
            name: "shop-web-1".into(),
            figures: figures(100.0, 90.0, 120.0, 5.0),
            errors: 4,
            warnings: 1,
            issues: vec![(Fingerprint(1), issue("timeout order=1", 4, 10))],
        };
        let db = Part {
            name: "shop-db-1".into(),
            figures: figures(50.0, 40.0, 64.0, 1.5),
            errors: 2,
            warnings: 0,
            issues: vec![
                (Fingerprint(1), issue("timeout order=9", 2, 20)),
                (Fingerprint(2), issue("disk", 1, 5)),
            ],
        };
        let apps = BTreeMap::from([("shop".to_owned(), (Catalog::default(), vec![web, db]))]);
        let r = build(&"acme".into(), Timestamp::from_unix_seconds(30), None, apps);
        let a = &r.app_telemetry[0];
        assert_eq!(a.containers, ["shop-web-1", "shop-db-1"]);
        assert_eq!(
            (a.memory_current_mb, a.memory_avg_mb, a.memory_peak_mb, a.cpu_avg_percent),
            (150.0, 130.0, 184.0, 6.5)
        );
        assert_eq!((a.log_errors, a.log_warnings, a.oom_kills, a.restarts), (6, 1, Some(2), Some(0)));
        assert_eq!(a.issues.len(), 2);
        assert_eq!((a.issues[0].count, a.issues[0].message.as_str()), (6, "timeout order=9"));
    }

    #[test]
    fn a_report_carries_at_most_fifty_issues_the_most_frequent() {
        let parts = |app: usize| Part {
            name: format!("c{app}"),
            issues: (0..10)
                .map(|i| {
                    (
                        Fingerprint((app * 100 + i) as u64),
                        issue(&format!("e{app}-{i}"), (app * 10 + i) as u64, 0),
                    )
                })
                .collect(),
            ..Part::default()
        };
        let apps = (0..8).map(|a| (format!("app{a}"), (Catalog::default(), vec![parts(a)]))).collect();
        let r = build(&"acme".into(), Timestamp::from_unix_seconds(1), None, apps);
        let all: Vec<u64> = r.app_telemetry.iter().flat_map(|a| a.issues.iter().map(|i| i.count)).collect();
        assert_eq!(all.len(), ISSUES_IN_ALL);
        assert!(all.iter().all(|c| *c >= 30), "the least frequent went: {all:?}");
    }
}
