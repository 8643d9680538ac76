//! `tailrace bench fleet`: a fleet's controller reports (the demo's [`Fleet`], at fleet scale)
//! through the real path — the ingest check, REPORTS, the `reports` processor, the telemetry and
//! issue sinks — and the fleet queries on the tables that result; beside the seed's SQLite store
//! ([`SeedStore`]) loaded with the same reports and asked the seed's queries, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::topology::Topology;
use tailrace_nats::Publisher;
use tailrace_schemas::{StreamName, Timestamp};
use tailrace_sinks::telemetry::{Period, TelemetryView};
use tailrace_sinks::Tables;
use tokio_util::sync::CancellationToken;

use super::say;
use super::seed_store::SeedStore;
use super::server::{reached, BenchServer, Point};
use crate::config::Config;
use crate::demo::fleet::{Fleet, Shape};

/// How long the seed's queries of one kind may take in all (at least 3 runs each).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub runs: usize,
    pub seed_seconds: u64,
}

pub async fn fleet(cfg: &Config, shape: Shape, budget: Budget) -> anyhow::Result<()> {
    let bench = BenchServer::start(cfg, false).await?;
    let js = jetstream::new(bench.client.clone());
    Topology::from_config(&cfg.nats.streams).apply(&js).await?;
    let tables = Tables::open(&bench.dir.path().join("sled"))?;
    let fleet = Fleet::new(shape, Timestamp::now());
    eprintln!(
        "bench: {} customers × {} apps, {} days of hourly reports: at most {} reports",
        shape.customers,
        shape.apps_per_customer,
        shape.days,
        fleet.most_reports()
    );

    // 1. Publishing: what controllers do, through the check every ingest path makes.
    let publisher = Publisher::new(
        bench.client.clone(),
        PublisherConfig { max_in_flight: 256, ..cfg.nats.publisher.clone() },
    );
    let started = Instant::now();
    let reports = crate::demo::publish(&publisher, fleet.history(), Some(fleet.most_reports())).await?;
    let published = started.elapsed();
    let rows: u64 = fleet.history().map(|r| r.app_telemetry.len() as u64).sum();

    // 2. From NATS to the tables: the processor splits, the sinks apply.
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let mut roles = crate::process::start(cfg, &bench.client, &["reports".to_owned()], &cancel).await?;
    roles.extend(
        crate::sink::start(
            cfg,
            &bench.client,
            &tables,
            &["telemetry".to_owned(), "issues".to_owned()],
            &cancel,
        )
        .await?,
    );
    reached(&js, "REPORTS", "reports", Point::Acked, reports).await?;
    eprintln!("bench: the splitter acknowledged every report after {:.2?}", started.elapsed());
    for (sink, stream) in [("telemetry", StreamName::REPORTS), ("issues", StreamName::ISSUES)] {
        let last = js.get_stream(stream.as_str()).await?.info().await?.state.last_sequence;
        let mut shown = Instant::now();
        while tables.applied(sink, stream)? < last {
            if shown.elapsed() >= Duration::from_secs(2) {
                eprintln!("bench: sink {sink}: {} of {last} applied", tables.applied(sink, stream)?);
                shown = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("bench: sink {sink} applied all {last} after {:.2?}", started.elapsed());
    }
    let into_tables = started.elapsed();
    cancel.cancel();
    roles.wait(&cancel).await?;
    let stored: u64 = {
        let mut bytes = 0;
        for s in ["REPORTS", "ISSUES"] {
            bytes += js.get_stream(s).await?.info().await?.state.bytes;
        }
        bytes
    };

    // 3. Our queries.
    let now = Timestamp::now();
    let view = TelemetryView::new(&tables)?;
    let apps: Vec<String> = view.apps()?.into_iter().map(|a| a.app_name).collect();
    let customers: Vec<String> = view.customers()?.into_iter().map(|c| c.customer_id).collect();
    eprintln!("bench: our queries, {} runs each…", budget.runs);
    let ours_fleet = timed(budget.runs, u64::MAX, |_| Ok(view.fleet(Period::Month, now)?.len()))?;
    let ours_app = timed(budget.runs, u64::MAX, |i| {
        let app = &apps[i % apps.len()];
        let detail = view.app(app, Period::Month, now)?.map_or(0, |d| d.summary.reports as usize);
        Ok(detail
            + view.history(app, Period::Month, now)?.len()
            + view.customers_of(app, Period::Month, now)?.len())
    })?;
    let ours_customer = timed(budget.runs, u64::MAX, |i| {
        Ok(view.customer_apps(&customers[i % customers.len()], Period::Week, now)?.map_or(0, |a| a.len()))
    })?;
    // The app detail's parts, to say which one its time goes to.
    let mut parts = Vec::new();
    for (part, query) in [("summary with advice", 0), ("hourly history", 1), ("customers", 2)] {
        let t = timed(budget.runs, u64::MAX, |i| {
            let app = &apps[i % apps.len()];
            Ok(match query {
                0 => view.app(app, Period::Month, now)?.map_or(0, |d| d.summary.reports as usize),
                1 => view.history(app, Period::Month, now)?.len(),
                _ => view.customers_of(app, Period::Month, now)?.len(),
            })
        })?;
        parts.push(format!("{part} {} / {}", ms(t.p50), ms(t.p99)));
    }
    let parts = parts.join("; ");
    eprintln!(
        "bench: ours, p50 / p99: fleet summary {} / {}; app detail {} / {} ({parts}); customer's apps {} / {}",
        ms(ours_fleet.p50),
        ms(ours_fleet.p99),
        ms(ours_app.p50),
        ms(ours_app.p99),
        ms(ours_customer.p50),
        ms(ours_customer.p99)
    );
    let ours_fleet_rows = view.fleet(Period::Month, now)?;
    let mut logical = Vec::new();
    for sink in ["telemetry", "issues"] {
        let (mut rows, mut bytes) = (0u64, 0u64);
        for item in tables.tree(sink)?.iter() {
            let (k, v) = item?;
            rows += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        logical.push(format!("{sink} {rows} rows, {:.1} MB", bytes as f64 / 1e6));
    }
    drop(view);
    drop(tables);
    let ours_bytes = dir_bytes(&bench.dir.path().join("sled"));
    bench.stop().await;

    // 4. The seed's store, the same reports.
    let seed_dir = tempfile::Builder::new().prefix("tailrace-bench-seed-").tempdir()?;
    let seed_path = seed_dir.path().join("telemetry.db");
    let mut seed = SeedStore::open(&seed_path)?;
    eprintln!("bench: the seed's SQLite store, the same {reports} reports…");
    let started = Instant::now();
    let mut shown = Instant::now();
    for (i, report) in fleet.history().enumerate() {
        seed.save(&report)?;
        if shown.elapsed() >= Duration::from_secs(2) {
            eprintln!("bench: seed store: {i} of {reports} reports saved");
            shown = Instant::now();
        }
    }
    let seed_load = started.elapsed();
    // The seed's `reported_at > since`, for the same whole-bucket periods as ours.
    let since = |p: Period| p.since(now).saturating_add_nanos(-1_000_000_000);
    eprintln!("bench: the seed's queries, up to {} runs or {} s each…", budget.runs, budget.seed_seconds);
    let seed_fleet =
        timed(budget.runs, budget.seed_seconds, |_| Ok(seed.fleet_summary(since(Period::Month))?.len()))?;
    let seed_app = timed(budget.runs, budget.seed_seconds, |i| {
        Ok(seed.app_detail(&apps[i % apps.len()], since(Period::Month))?)
    })?;
    let seed_customer = timed(budget.runs, budget.seed_seconds, |i| {
        Ok(seed.customer_apps(&customers[i % customers.len()], since(Period::Week))?)
    })?;
    let seed_rows = seed.fleet_summary(since(Period::Month))?;
    drop(seed);
    let seed_bytes = dir_bytes(seed_dir.path());

    // The two must say the same, or the timing compares different work.
    let mut agree = 0;
    for ours in &ours_fleet_rows {
        let Some(theirs) = seed_rows.iter().find(|r| r.app_name == ours.app_name) else { continue };
        let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * b.abs().max(1e-9);
        let p95 = match (ours.p95_memory_mb, theirs.p95_memory_mb) {
            (Some(a), Some(b)) => close(a, b, 0.0101),
            (a, b) => a == b,
        };
        if ours.deployment_count == theirs.deployment_count
            && ours.total_errors == theirs.total_errors
            && close(ours.avg_memory_mb, theirs.avg_memory_mb, 1e-6)
            && close(ours.peak_memory_mb, theirs.peak_memory_mb, 1e-9)
            && p95
        {
            agree += 1;
        } else {
            eprintln!("bench: {} differs: ours {ours:?}, the seed's {theirs:?}", ours.app_name);
        }
    }

    let per_s = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    say(&format!(
        "{reports} reports ({rows} app rows): {} customers × {} apps × {} days hourly, some skipped; this machine's cores shared by all",
        shape.customers, shape.apps_per_customer, shape.days
    ));
    say(&format!(
        "fleet summaries agree on {agree} of {} apps (deployments, errors, average and peak memory exactly, P95 within the sketch's 1 %)",
        ours_fleet_rows.len()
    ));
    say("");
    say("| | tailrace (NATS → sled) | the seed's SQLite store | tailrace / seed |");
    say("| --- | ---: | ---: | ---: |");
    say(&format!(
        "| reports/s into the tables | {:.0} | {:.0} | {:.2} |",
        per_s(reports, into_tables),
        per_s(reports, seed_load),
        seed_load.as_secs_f64() / into_tables.as_secs_f64()
    ));
    say(&format!("| (publishing, ingest check included) | {:.0} | | |", per_s(reports, published)));
    for (name, ours, theirs) in [
        ("fleet summary, 30d", &ours_fleet, &seed_fleet),
        ("app detail, 30d", &ours_app, &seed_app),
        ("customer's apps, 7d", &ours_customer, &seed_customer),
    ] {
        for (q, a, b) in [("p50", ours.p50, theirs.p50), ("p99", ours.p99, theirs.p99)] {
            say(&format!(
                "| {name} {q} ({} / {} runs) | {} | {} | {:.4} |",
                ours.runs,
                theirs.runs,
                ms(a),
                ms(b),
                a.as_secs_f64() / b.as_secs_f64()
            ));
        }
    }
    say(&format!(
        "| size on disk | {:.1} MB (sled; the streams hold {:.1} MB more) | {:.1} MB | {:.2} |",
        ours_bytes as f64 / 1e6,
        stored as f64 / 1e6,
        seed_bytes as f64 / 1e6,
        ours_bytes as f64 / seed_bytes as f64
    ));
    say(&format!("| (keys and values in the tables) | {} | | |", logical.join("; ")));
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

struct Timings {
    runs: usize,
    p50: Duration,
    p99: Duration,
}

/// Runs `query` `runs` times (fewer if `seconds` run out, but at least 3); the median and the
/// 99th percentile (nearest rank).
fn timed(
    runs: usize,
    seconds: u64,
    mut query: impl FnMut(usize) -> anyhow::Result<usize>,
) -> anyhow::Result<Timings> {
    let budget = Instant::now();
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for i in 0..runs.max(3) {
        let start = Instant::now();
        rows += query(i)?;
        times.push(start.elapsed());
        if i >= 2 && budget.elapsed().as_secs() >= seconds {
            break;
        }
    }
    anyhow::ensure!(rows > 0, "the queries found nothing: the bench measured no work");
    times.sort_unstable();
    let rank = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Ok(Timings { runs: times.len(), p50: rank(0.5), p99: rank(0.99) })
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
