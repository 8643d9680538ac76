//! [`Fleet`]: a made-up but plausible fleet of customers running self-hosted apps, as their
//! controllers would report it hour by hour. `tailrace demo` publishes it so the pages have
//! something to show; `tailrace bench fleet` loads it at fleet scale.
//!
//! Every report is a pure function of (seed, customer, hour), so any hour can be generated again
//! (the demo's live phase, a rerun) and comes out the same, and the tables count it once.
//!
//! What it holds, so the pages show each feature: a daily rhythm and a slow growth of memory;
//! one app that leaks until the kernel kills it at its limit (OOM kills, restarts, advice that
//! rises); catalog limits that are generous for some apps and too tight for others (the three
//! accuracy colours); recurring errors with changing numbers and addresses (one issue each
//! after fingerprinting), and an error that started in the last day and a half; controllers
//! that skip reports now and then, one that went quiet hours ago, and one too old to send app
//! telemetry.

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tailrace_schemas::{AppName, AppReport, CustomerId, LogIssue, Report, Severity, Timestamp};

const HOUR: i64 = 3_600;
const GROWTH_HOURS: i64 = 60 * 24;

/// How big a fleet to make.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub customers: usize,
    pub apps: usize,
    /// Apps each customer runs (at most `apps`).
    pub apps_per_customer: usize,
    /// Days of history before now.
    pub days: u32,
    pub seed: u64,
}

/// One app of the catalog: what it needs and what the catalog says it needs.
#[derive(Debug, Clone)]
struct App {
    name: AppName,
    display: String,
    base_mb: f64,
    cpu: f64,
    estimate_mb: u32,
    limit_mb: u32,
    /// MB per hour a deployment grows until it is killed at its limit.
    leak_mb_per_hour: f64,
    /// Share of memory gained over [`GROWTH_HOURS`] (a slow trend).
    growth: f64,
    errors: Vec<(Severity, &'static str)>,
}

#[derive(Debug, Clone)]
struct Customer {
    id: CustomerId,
    apps: Vec<usize>,
    /// Scales memory and CPU: a big customer's deployments work harder.
    load: f64,
    /// Chance that a report of an hour never arrives.
    skip: f64,
    /// The controller stopped reporting this many hours ago.
    quiet_hours: i64,
    /// An old controller: reports without app telemetry.
    old_controller: bool,
    /// Minute of the hour this controller reports at.
    minute: i64,
}

/// The fleet, its history ending at `now`.
#[derive(Debug, Clone)]
pub struct Fleet {
    shape: Shape,
    apps: Vec<App>,
    customers: Vec<Customer>,
    /// Unix seconds of the first and the current hour.
    first_hour: i64,
    now: i64,
}

/// (name, display name, base MB, CPU %, catalog estimate MB, catalog limit MB, own error).
const CATALOG: &[(&str, &str, f64, f64, u32, u32, &str)] = &[
    ("nginx", "NGINX", 45.0, 2.0, 64, 256, "upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: _, request: \"GET /api/{n} HTTP/1.1\""),
    ("postgres", "PostgreSQL", 310.0, 6.0, 256, 512, "FATAL: remaining connection slots are reserved for non-replication superuser connections (pid {n})"),
    ("redis", "Redis", 60.0, 1.5, 64, 256, "OOM command not allowed when used memory > 'maxmemory' (client {ip}:{port})"),
    ("grafana", "Grafana", 140.0, 2.5, 128, 256, "failed to query data source uid={hex}: context deadline exceeded after {ms}ms"),
    ("prometheus", "Prometheus", 620.0, 9.0, 512, 1536, "scrape of http://{ip}:{port}/metrics failed: context deadline exceeded"),
    ("keycloak", "Keycloak", 720.0, 4.0, 512, 768, "java.lang.OutOfMemoryError: Java heap space in thread executor-thread-{n}"),
    ("gitea", "Gitea", 190.0, 2.0, 256, 512, "failed to run git gc on repository {n}: exit status 128"),
    ("nextcloud", "Nextcloud", 380.0, 5.0, 256, 1024, "PHP Fatal error: Allowed memory size of {bytes} bytes exhausted (tried to allocate {n} bytes)"),
    ("minio", "MinIO", 260.0, 3.0, 256, 1024, "disk /data{n} is offline: read timeout after {ms}ms"),
    ("rabbitmq", "RabbitMQ", 170.0, 3.5, 256, 512, "closing AMQP connection <0.{n}.0> ({ip}:{port}): missed heartbeats from client"),
    ("elasticsearch", "Elasticsearch", 1700.0, 12.0, 2048, 3072, "circuit_breaking_exception: [parent] Data too large, data for [<http_request>] would be [{bytes}b]"),
    ("mattermost", "Mattermost", 340.0, 3.0, 256, 512, "failed to send push notification to device {hex}: 502 Bad Gateway"),
    ("wordpress", "WordPress", 210.0, 2.5, 256, 512, "WordPress database error Deadlock found when trying to get lock for query UPDATE wp_options (id {n})"),
    ("mariadb", "MariaDB", 330.0, 4.0, 512, 1024, "Aborted connection {n} to db: 'app' user: 'app' host: '{ip}' (Got timeout reading communication packets)"),
    ("loki", "Loki", 290.0, 3.0, 256, 512, "failed to flush chunks: store put chunk: timeout after {ms}ms (tenant {n})"),
    ("traefik", "Traefik", 70.0, 1.5, 64, 128, "Error while Peeking first byte: read tcp {ip}:443->{ip}:{port}: i/o timeout"),
    ("vaultwarden", "Vaultwarden", 45.0, 0.5, 64, 128, "Failed login attempt for user {n} from IP {ip}"),
    ("jellyfin", "Jellyfin", 480.0, 8.0, 512, 1024, "FFmpeg exited with code 1 while transcoding item {hex}"),
    ("n8n", "n8n", 260.0, 2.0, 256, 512, "Workflow {n} execution failed: Request failed with status code 504"),
    ("uptime-kuma", "Uptime Kuma", 110.0, 1.0, 128, 256, "monitor {n} is DOWN: connect ECONNREFUSED {ip}:{port}"),
];

/// Errors and warnings any app may log.
const COMMON: &[(Severity, &str)] = &[
    (Severity::Error, "connection to {ip}:{port} refused"),
    (Severity::Warn, "slow request took {ms} ms: GET /api/v1/items?page={n}"),
    (Severity::Warn, "certificate for host{n}.example.com expires in {n} days"),
    (Severity::Error, "request to https://api{n}.example.com/v2/sync timed out after {ms} ms"),
    (Severity::Warn, "disk usage at {n}% on /var/lib/data"),
];

/// The error that started recently at some customers of the second app.
const NEW_ERROR: &str = "could not open file \"base/{n}/pg_filenode.map\": Too many open files";
const NEW_ERROR_HOURS: i64 = 36;

/// Which app leaks (by catalog position): Nextcloud, as PHP workers that are never recycled do.
const LEAKING: usize = 7;

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // SplitMix64's finalizer over the three: independent streams per (customer, hour).
    let mut z = seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn megabytes(mb: u32) -> String {
    if mb >= 1024 && mb % 1024 == 0 {
        format!("{}G", mb / 1024)
    } else {
        format!("{mb}M")
    }
}

fn fill(template: &str, rng: &mut SmallRng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let value = match &rest[open + 1..close] {
            "ip" => format!(
                "10.{}.{}.{}",
                rng.random_range(0..8),
                rng.random_range(0..255),
                rng.random_range(1..255)
            ),
            "port" => rng.random_range(1024..65535).to_string(),
            "ms" => rng.random_range(1000..30000).to_string(),
            "hex" => format!("{:012x}", rng.random::<u64>() & 0xffff_ffff_ffff),
            "bytes" => (rng.random_range(128..2048u64) * 1_048_576).to_string(),
            _ => rng.random_range(1..999).to_string(),
        };
        out.push_str(&value);
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

impl Fleet {
    /// The fleet of `shape` with its history ending at `now`.
    pub fn new(shape: Shape, now: Timestamp) -> Self {
        let now = now.as_unix_seconds();
        let mut rng = SmallRng::seed_from_u64(shape.seed);
        let apps = (0..shape.apps)
            .map(|i| {
                let (name, display, base, cpu, estimate, limit, own) = CATALOG[i % CATALOG.len()];
                let round = i / CATALOG.len();
                // Past the catalog: variants of its apps, each a little different in size.
                let (name, display, scale) = if round == 0 {
                    (name.to_owned(), display.to_owned(), 1.0)
                } else {
                    (
                        format!("{name}-{}", round + 1),
                        format!("{display} {}", round + 1),
                        rng.random_range(0.6..1.5),
                    )
                };
                let mut errors = vec![(Severity::Error, own)];
                errors.push(COMMON[i % COMMON.len()]);
                errors.push(COMMON[(i * 3 + 1) % COMMON.len()]);
                App {
                    name: AppName::new(name),
                    display,
                    base_mb: base * scale,
                    cpu,
                    estimate_mb: (f64::from(estimate) * scale / 32.0).ceil() as u32 * 32,
                    limit_mb: (f64::from(limit) * scale / 32.0).ceil() as u32 * 32,
                    leak_mb_per_hour: if i == LEAKING { 6.0 } else { 0.0 },
                    growth: if i % 4 == 1 { 0.15 } else { 0.0 },
                    errors,
                }
            })
            .collect::<Vec<_>>();
        let per = shape.apps_per_customer.clamp(1, shape.apps.max(1));
        let customers = (0..shape.customers)
            .map(|c| {
                // Every customer runs the first two apps (the web server and the database);
                // the rest is its own pick.
                let mut picked: Vec<usize> = (0..shape.apps.min(2)).collect();
                let mut others: Vec<usize> = (picked.len()..shape.apps).collect();
                while picked.len() < per && !others.is_empty() {
                    picked.push(others.swap_remove(rng.random_range(0..others.len())));
                }
                picked.sort_unstable();
                Customer {
                    id: CustomerId::new(format!("customer-{:04}", c + 1)),
                    apps: picked,
                    load: rng.random_range(0.6..1.6),
                    skip: rng.random_range(0.0..0.06),
                    quiet_hours: if shape.customers > 3 && c == 2 { 5 } else { 0 },
                    old_controller: shape.customers > 5 && c == 4,
                    minute: rng.random_range(0..60),
                }
            })
            .collect();
        let current_hour = now - now.rem_euclid(HOUR);
        let first_hour = current_hour - i64::from(shape.days) * 24 * HOUR;
        Self { shape, apps, customers, first_hour, now }
    }

    /// Hours of history, the current one included.
    pub fn hours(&self) -> i64 {
        (self.now - self.first_hour) / HOUR + 1
    }

    /// The most reports the history can hold (customers × hours).
    pub fn most_reports(&self) -> u64 {
        self.customers.len() as u64 * self.hours() as u64
    }

    /// Every report of the history, hour by hour.
    pub fn history(&self) -> impl Iterator<Item = Report> + '_ {
        self.between(Timestamp::EPOCH, Timestamp::from_unix_seconds(self.now))
    }

    /// The reports made after `from` up to and including `to` (hour by hour), for a demo that
    /// goes on reporting as time passes.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = Report> + '_ {
        let (from, to) = (from.as_nanos(), to.as_nanos());
        let first = self.first_hour.max(from.div_euclid(1_000_000_000) - HOUR);
        let first = first - first.rem_euclid(HOUR);
        let last = to.div_euclid(1_000_000_000);
        (first..=last).step_by(HOUR as usize).flat_map(move |hour| {
            (0..self.customers.len()).filter_map(move |c| {
                self.report(c, hour).filter(|r| {
                    let at = r.reported_at.map_or(0, Timestamp::as_nanos);
                    at > from && at <= to
                })
            })
        })
    }

    /// The report customer `c` makes in the hour starting at `hour` (unix seconds), if it does.
    fn report(&self, c: usize, hour: i64) -> Option<Report> {
        let customer = &self.customers[c];
        let mut rng = SmallRng::seed_from_u64(mix(self.shape.seed, c as u64, hour as u64));
        let at = hour + customer.minute * 60 + rng.random_range(0..60);
        let current_hour = self.now - self.now.rem_euclid(HOUR);
        if hour < self.first_hour || rng.random::<f64>() < customer.skip {
            return None;
        }
        if customer.quiet_hours > 0 && hour > current_hour - customer.quiet_hours * HOUR {
            return None;
        }
        let reported_at = Timestamp::from_unix_seconds(at);
        let app_telemetry = if customer.old_controller {
            Vec::new()
        } else {
            customer.apps.iter().map(|&a| self.app_report(c, a, hour, at, &mut rng)).collect()
        };
        Some(Report {
            v: 1,
            customer_id: customer.id.clone(),
            reported_at: Some(reported_at),
            controller_version: Some(if customer.old_controller { "0.9.2" } else { "1.4.0" }.to_owned()),
            hostname: Some(format!("{}-node1", customer.id)),
            app_telemetry,
        })
    }

    fn app_report(&self, c: usize, a: usize, hour: i64, at: i64, rng: &mut SmallRng) -> AppReport {
        let app = &self.apps[a];
        let customer = &self.customers[c];
        // A deployment's own size: the same every hour.
        let own = 0.75 + (mix(self.shape.seed, c as u64, 1_000_000 + a as u64) % 1000) as f64 / 1500.0;
        let hour_of_day = (hour.rem_euclid(86_400) / HOUR) as f64;
        let daily = 1.0 + 0.12 * ((hour_of_day - 8.0) / 24.0 * std::f64::consts::TAU).sin();
        // The slow growth is anchored to the calendar, not to now, so an hour comes out the
        // same whenever it is generated; an upgrade every 60 days resets it.
        let age = (hour / HOUR).rem_euclid(GROWTH_HOURS) as f64 / GROWTH_HOURS as f64;
        let mut mb = app.base_mb * customer.load.sqrt() * own * daily * (1.0 + app.growth * age);
        let limit = f64::from(app.limit_mb);
        let (mut oom_kills, mut restarts) = (0, 0);
        if app.leak_mb_per_hour > 0.0 {
            let rate = app.leak_mb_per_hour * customer.load;
            let cycle = (((limit * 0.98 - mb) / rate).max(6.0)) as i64;
            let phase = (mix(self.shape.seed, c as u64, 2_000_000) % cycle as u64) as i64;
            let since_restart = (hour / HOUR + phase) % cycle;
            if since_restart == 0 {
                (oom_kills, restarts) = (1, 1);
            }
            mb += rate * since_restart as f64;
        }
        let avg = (mb * rng.random_range(0.95..1.05)).min(limit * 0.99);
        let spike = rng.random::<f64>();
        let peak = (avg * (1.06 + 0.3 * spike * spike)).min(limit);
        let current = (avg * rng.random_range(0.93..1.07)).min(limit);

        let mut issues = Vec::new();
        let (mut errors, mut warnings) = (rng.random_range(0..3u64), rng.random_range(0..6u64));
        let noisy = a % 3 == 0;
        for (i, &(severity, template)) in app.errors.iter().enumerate() {
            let chance = if i == 0 && noisy { 0.35 } else { 0.06 };
            if rng.random::<f64>() < chance {
                let count = rng.random_range(1..if severity == Severity::Error { 12 } else { 30 });
                match severity {
                    Severity::Error => errors += count,
                    _ => warnings += count,
                }
                issues.push(self.issue(severity, template, count, hour, at, rng));
            }
        }
        if a == 1 && c % 3 == 0 && hour > self.now - NEW_ERROR_HOURS * HOUR && rng.random::<f64>() < 0.5 {
            let count = rng.random_range(1..20);
            errors += count;
            issues.push(self.issue(Severity::Error, NEW_ERROR, count, hour, at, rng));
        }
        AppReport {
            app_name: app.name.clone(),
            display_name: app.display.clone(),
            containers: vec![format!("{}-app-1", app.name)],
            memory_current_mb: round1(current),
            memory_avg_mb: round1(avg),
            memory_peak_mb: round1(peak),
            cpu_avg_percent: round1(app.cpu * customer.load * daily * rng.random_range(0.7..1.3)),
            catalog_estimate: megabytes(app.estimate_mb),
            catalog_limit: megabytes(app.limit_mb),
            log_errors: errors,
            log_warnings: warnings,
            issues,
            oom_kills: Some(oom_kills),
            restarts: Some(restarts),
            sample_count: None,
        }
    }

    fn issue(
        &self,
        severity: Severity,
        template: &str,
        count: u64,
        hour: i64,
        at: i64,
        rng: &mut SmallRng,
    ) -> LogIssue {
        let seen = rng.random_range(hour..=at.max(hour));
        LogIssue {
            severity,
            message: fill(template, rng),
            count,
            last_seen: Timestamp::from_unix_seconds(seen),
            fingerprint: None,
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape { customers: 12, apps: 10, apps_per_customer: 6, days: 7, seed: 7 }
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_790_000_000);

    #[test]
    fn the_same_seed_makes_the_same_reports_and_a_rerun_of_an_hour_is_identical() {
        let a: Vec<_> = Fleet::new(shape(), NOW).history().collect();
        let b: Vec<_> = Fleet::new(shape(), NOW).history().collect();
        assert_eq!(a, b);
        let later = Fleet::new(shape(), NOW.saturating_add_nanos(600_000_000_000));
        let again: Vec<_> = later.between(Timestamp::EPOCH, NOW).collect();
        assert_eq!(a, again, "moving now on does not change the past");
    }

    #[test]
    fn the_history_has_skips_a_quiet_controller_an_old_one_a_leak_and_a_new_error() {
        let fleet = Fleet::new(shape(), NOW);
        let reports: Vec<_> = fleet.history().collect();
        assert!(
            reports.len() < fleet.most_reports() as usize
                && reports.len() > fleet.most_reports() as usize / 2
        );
        assert!(reports.iter().all(|r| r.reported_at.unwrap() <= NOW));
        let quiet = CustomerId::new("customer-0003");
        let last_quiet =
            reports.iter().filter(|r| r.customer_id == quiet).map(|r| r.reported_at.unwrap()).max();
        assert!(last_quiet.unwrap().as_unix_seconds() < NOW.as_unix_seconds() - 4 * HOUR);
        assert!(reports
            .iter()
            .any(|r| r.customer_id.as_str() == "customer-0005" && r.app_telemetry.is_empty()));
        let apps = || reports.iter().flat_map(|r| &r.app_telemetry);
        assert!(apps().any(|a| a.app_name.as_str() == "nextcloud" && a.oom_kills == Some(1)));
        assert!(apps().all(|a| a.memory_peak_mb >= a.memory_avg_mb && a.memory_avg_mb > 0.0));
        let new_error = |r: &&Report| {
            r.app_telemetry.iter().any(|a| a.issues.iter().any(|i| i.message.contains("pg_filenode.map")))
        };
        let first_new = reports.iter().filter(new_error).map(|r| r.reported_at.unwrap()).min().unwrap();
        assert!(first_new.as_unix_seconds() >= NOW.as_unix_seconds() - NEW_ERROR_HOURS * HOUR - HOUR);
    }

    #[test]
    fn reports_pass_the_ingest_check() {
        for r in Fleet::new(shape(), NOW).history().take(50) {
            let bytes = serde_json::to_vec(&r).unwrap();
            let ingested = tailrace_schemas::report_check::ingest(&bytes, NOW).unwrap();
            assert_eq!(ingested.report, r);
        }
    }

    #[test]
    fn between_splits_the_history_without_losing_or_repeating_a_report() {
        let fleet = Fleet::new(shape(), NOW);
        let all: Vec<_> = fleet.history().collect();
        let cut = Timestamp::from_unix_seconds(NOW.as_unix_seconds() - 7 * HOUR - 1234);
        let mut halves: Vec<_> = fleet.between(Timestamp::EPOCH, cut).collect();
        halves.extend(fleet.between(cut, NOW));
        assert_eq!(all, halves);
    }
}
