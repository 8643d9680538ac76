//! `tailrace bench controller`: the controller's own CPU and memory on a host whose containers
//! log steadily, beside the seed's method on the same containers in the same run: `tailrace
//! controller` as its own process for some report cycles, after the seed's scan
//! ([`SeedScan`]: `docker logs --since=15m --tail=1000` per container, one after another) for
//! as many cycles. The Docker daemon's CPU is counted for each, since both make it read logs.

use std::path::Path;
use std::time::{Duration, Instant};

use tailrace_controller::testing::{engine_answers, unique, TestContainer};

use super::say;
use super::seed_scan::SeedScan;

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub containers: usize,
    pub lines_per_s: u32,
    pub cycles: u32,
    pub interval: Duration,
}

/// One line in twenty is an error (with ids and times that differ), the rest info.
fn logger(lines_per_s: u32) -> String {
    format!(
        "i=0; while true; do j=0; while [ $j -lt {lines_per_s} ]; do i=$((i+1)); j=$((j+1)); \
         if [ $((i % 20)) -eq 0 ]; then echo \"ERROR request $i failed: upstream timeout after $((i % 900)) ms\"; \
         else echo \"INFO request $i served in $((i % 50)) ms\"; fi; done; sleep 1; done"
    )
}

/// CPU seconds a process used, and those of its children it waited for.
fn cpu(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    // After the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let at = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0) / tick;
    (at(14) + at(15), at(16) + at(17))
}

/// Peak resident memory of a process, MiB.
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pid_of(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read_to_string(e.path().join("comm")).ok()?.trim() == comm).then_some(pid)
    })
}

/// Errors the reports in `outbox` counted, and how many reports there are.
fn counted(outbox: &Path) -> (u64, usize) {
    let mut errors = 0;
    let mut reports = 0;
    for entry in std::fs::read_dir(outbox).into_iter().flatten().flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        let Ok(r) = serde_json::from_slice::<tailrace_schemas::Report>(&bytes) else { continue };
        reports += 1;
        errors += r.app_telemetry.iter().map(|a| a.log_errors).sum::<u64>();
    }
    (errors, reports)
}

pub async fn controller(shape: Shape) -> anyhow::Result<()> {
    anyhow::ensure!(engine_answers(), "no Docker Engine answers (deploy/prereqs.sh starts dockerd)");
    let dockerd = pid_of("dockerd").ok_or_else(|| anyhow::anyhow!("no dockerd process to measure"))?;
    let prefix = unique("bench");
    eprintln!("bench: starting {} containers, each logging {} lines/s…", shape.containers, shape.lines_per_s);
    let mut containers = Vec::with_capacity(shape.containers);
    let mut names = Vec::with_capacity(shape.containers);
    for i in 0..shape.containers {
        let name = format!("{prefix}-{i}");
        let app = format!("{prefix}-app{}", i % 10);
        containers.push(TestContainer::run(
            &name,
            &[("com.docker.compose.project", app.as_str())],
            &logger(shape.lines_per_s),
        ));
        names.push(name);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let span = shape.interval * shape.cycles;

    // The seed's first, so the largest child it waited for is a docker CLI, not our controller.
    eprintln!("bench: the seed's scan for {} cycles…", shape.cycles);
    let scan = SeedScan::new();
    let me = std::process::id();
    let (self_before, children_before) = cpu(me);
    let daemon_before = cpu(dockerd).0;
    let mut seed_errors = 0;
    for _ in 0..shape.cycles {
        let started = Instant::now();
        seed_errors += scan.cycle(&names).await.errors;
        tokio::time::sleep(shape.interval.saturating_sub(started.elapsed())).await;
    }
    let (self_after, children_after) = cpu(me);
    let seed_cpu = (self_after - self_before) + (children_after - children_before);
    let seed_daemon = cpu(dockerd).0 - daemon_before;
    let children_rss = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0.0, |u| u.max_rss() as f64 / 1024.0);

    // Ours: `tailrace controller` as operators run it; reports wait in its outbox (no hub).
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[controller]\ncustomer_id = \"bench\"\nsample_interval = \"{}ms\"\n\
             report_interval = \"{}ms\"\n[controller.hub]\ntransport = \"http\"\nurl = \"http://127.0.0.1:9\"\n\
             token = \"unused\"\n",
            dir.path().join("data").display(),
            shape.interval.min(Duration::from_secs(15)).as_millis(),
            shape.interval.as_millis()
        ),
    )?;
    eprintln!("bench: tailrace controller for {} cycles of {:?}…", shape.cycles, shape.interval);
    let daemon_before = cpu(dockerd).0;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["controller", "-c"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    tokio::time::sleep(span + Duration::from_secs(3)).await;
    if let Some(status) = child.try_wait()? {
        anyhow::bail!(
            "tailrace controller ended early ({status}); run it with {} to see why",
            config.display()
        );
    }
    let pid = child.id();
    let (ours_cpu, _) = cpu(pid);
    let ours_rss = peak_rss_mb(pid);
    let ours_daemon = cpu(dockerd).0 - daemon_before;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM)?;
    child.wait()?;
    let (ours_errors, ours_reports) = counted(&dir.path().join("data/controller-outbox"));

    drop(containers);

    let written = shape.containers as f64 * f64::from(shape.lines_per_s) * span.as_secs_f64();
    let per_cycle = |x: f64| x / f64::from(shape.cycles);
    say(&format!(
        "{} containers × {} lines/s (1 in 20 an error), {} cycles of {:?}; lines written per cycle ≈ {:.0}",
        shape.containers,
        shape.lines_per_s,
        shape.cycles,
        shape.interval,
        written / f64::from(shape.cycles)
    ));
    say("");
    say("| per report cycle | tailrace controller | the seed's scan | tailrace / seed |");
    say("| --- | ---: | ---: | ---: |");
    say(&format!(
        "| CPU of the controller (s) | {:.2} | {:.2} (docker CLI and the scan) | {:.2} |",
        per_cycle(ours_cpu),
        per_cycle(seed_cpu),
        ours_cpu / seed_cpu.max(1e-9)
    ));
    say(&format!(
        "| CPU of dockerd (s) | {:.2} | {:.2} | {:.2} |",
        per_cycle(ours_daemon),
        per_cycle(seed_daemon),
        ours_daemon / seed_daemon.max(1e-9)
    ));
    say(&format!(
        "| errors counted | {:.0} ({ours_reports} reports) | {:.0} | |",
        ours_errors as f64 / ours_reports.max(1) as f64,
        per_cycle(seed_errors as f64)
    ));
    say(&format!(
        "| errors written | {:.0} | {:.0} | |",
        written / 20.0 / f64::from(shape.cycles),
        written / 20.0 / f64::from(shape.cycles)
    ));
    say(&format!(
        "| peak memory (MiB) | {ours_rss:.1} (the controller) | {children_rss:.1} (the largest docker CLI) | |"
    ));
    Ok(())
}
