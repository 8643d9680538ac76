//! [`Collector`]: the controller's state between reports — which members each app has, their
//! samples of the window, where each log scan ended — and the two things it does: sample
//! (every `sample_interval`) and report (every `report_interval`).

use std::collections::BTreeMap;
use std::time::Instant;

use tailrace_processors::template::Fingerprinter;
use tailrace_schemas::{CustomerId, Report, Timestamp};

use crate::config::ControllerConfig;
use crate::docker::{Engine, DISPLAY_NAME_LABEL, ESTIMATE_LABEL, LIMIT_LABEL};
use crate::group_logs::{self, FileCursors};
use crate::member::{Kind, Member};
use crate::report::{self, Catalog, Part};
use crate::scan::Scan;
use crate::window::{Sample, Series};

#[derive(Debug)]
pub struct Collector {
    cfg: ControllerConfig,
    customer: CustomerId,
    engine: Option<Engine>,
    members: BTreeMap<String, Tracked>,
    fingerprinter: Fingerprinter,
    files: FileCursors,
    /// The end of the last report's window.
    window_start: Timestamp,
    hostname: Option<String>,
    /// Members whose usage could not be read (warned once each).
    unreadable: std::collections::HashSet<String>,
}

#[derive(Debug)]
struct Tracked {
    member: Member,
    series: Series,
    /// Whether the last sample found it (one that is gone is reported once more, then dropped).
    present: bool,
}

impl Collector {
    /// A collector whose first window starts now. Docker is used when its engine answers at
    /// `docker_socket`; without it the configured groups are the apps.
    pub async fn new(cfg: ControllerConfig, customer: CustomerId) -> Self {
        let engine = match Engine::connect(&cfg.docker_socket).await {
            Ok(engine) => Some(engine),
            Err(e) => {
                tracing::info!(error = %e, "no Docker Engine answers; the apps are the configured groups");
                None
            }
        };
        Self {
            cfg,
            customer,
            engine,
            members: BTreeMap::new(),
            fingerprinter: Fingerprinter::default(),
            files: FileCursors::default(),
            window_start: Timestamp::now(),
            hostname: hostname(),
            unreadable: Default::default(),
        }
    }

    /// Starts the window `back` before now (for `--once`: a report of the recent past).
    pub fn look_back(&mut self, back: std::time::Duration) {
        let nanos = i64::try_from(back.as_nanos()).unwrap_or(i64::MAX);
        self.window_start = Timestamp::now().saturating_add_nanos(-nanos);
        self.files.first_read_back = 1 << 20;
    }

    /// Starts the first window at `t` (where the last run's last window ended).
    pub fn start_at(&mut self, t: Timestamp) {
        self.window_start = t;
    }

    /// Where the next window starts.
    pub fn window_start(&self) -> Timestamp {
        self.window_start
    }

    pub fn has_docker(&self) -> bool {
        self.engine.is_some()
    }

    /// Finds the members and reads each once.
    pub async fn sample(&mut self) {
        if self.engine.is_none() && self.cfg.docker_socket.exists() {
            // dockerd may start after the controller (a machine booting).
            if let Ok(engine) = Engine::connect(&self.cfg.docker_socket).await {
                tracing::info!(socket = %self.cfg.docker_socket.display(), "the Docker Engine answers now");
                self.engine = Some(engine);
            }
        }
        let mut found = crate::member::Member::groups(&self.cfg);
        if let Some(engine) = &self.engine {
            match engine.containers().await {
                Ok(containers) => {
                    found.extend(containers.into_iter().map(|c| Member::container(&self.cfg.cgroup_root, c)))
                }
                Err(e) => tracing::warn!(error = %e, "listing containers failed; trying again next sample"),
            }
        }
        found.retain(|m| !self.cfg.is_protected(&m.app));
        let was_present: Vec<String> =
            self.members.iter().filter(|(_, t)| t.present).map(|(k, _)| k.clone()).collect();
        for t in self.members.values_mut() {
            t.present = false;
        }
        for member in found {
            let (started, restart_count, oom_killed) = match &member.kind {
                Kind::Container { container, .. } => {
                    (container.started_at.clone(), container.restart_count, container.oom_killed)
                }
                Kind::Group { logs, .. } => {
                    // A window counts the lines written in it: a file's scan starts where the
                    // file ended when it was first seen.
                    for path in logs {
                        self.files.start(path);
                    }
                    (None, None, false)
                }
            };
            let reading = match &member.kind {
                Kind::Container { group: Some(g), .. } | Kind::Group { group: g, .. } => {
                    g.read().map_err(|e| e.to_string())
                }
                Kind::Container { container, group: None } => match &self.engine {
                    Some(engine) => engine.stats(&container.id).await.map_err(|e| e.to_string()),
                    None => Err("no engine".to_owned()),
                },
            };
            let reading = match reading {
                Ok(r) => r,
                Err(e) => {
                    if self.unreadable.insert(member.key.clone()) {
                        tracing::warn!(member = %member.name, app = %member.app, error = %e, "cannot read the member's usage; it is left out until it can be read");
                    }
                    continue;
                }
            };
            self.unreadable.remove(&member.key);
            let key = member.key.clone();
            let t = self.members.entry(key).or_insert_with(|| Tracked {
                member: member.clone(),
                series: Series::default(),
                present: true,
            });
            t.member = member;
            t.present = true;
            t.series.add(Sample { at: Instant::now(), reading, started, restart_count, oom_killed });
        }
        // Containers that stopped since the last sample: an OOM kill of the main process ends
        // a container without a restart to show it, only the engine's state tells.
        if let Some(engine) = &self.engine {
            for key in was_present {
                let Some(t) = self.members.get_mut(&key) else { continue };
                if !t.present
                    && matches!(t.member.kind, Kind::Container { .. })
                    && engine.ended_by_oom(&key).await
                {
                    t.series.ended_by_oom();
                }
            }
        }
    }

    /// The report of the window ending `now`: each member's figures and log scan (one member
    /// after another, each scan within `scan_timeout`), summed per app. The next window
    /// starts at `now`.
    pub async fn report(&mut self, now: Timestamp) -> Report {
        let after = self.window_start;
        // The engine stamps a line when it takes it and writes it a moment later: the log
        // window ends a second back, and the next one starts there, so no line falls between.
        let until = now.saturating_add_nanos(-LOG_LAG_NANOS).max(after);
        let mut apps: BTreeMap<String, (Catalog, Vec<Part>)> = BTreeMap::new();
        let started = Instant::now();
        for t in self.members.values_mut() {
            if t.series.is_empty() {
                continue;
            }
            let mut figures = t.series.take();
            if !t.present {
                // Gone (a compose recreate): its replacement holds the memory now.
                figures.memory_current_mb = 0.0;
            }
            let mut scan = Scan::default();
            let fingerprinter = &mut self.fingerprinter;
            let finished = match &t.member.kind {
                Kind::Container { container, .. } => match &self.engine {
                    Some(engine) => engine
                        .logs(&container.id, after, until, self.cfg.scan_timeout, |line, at| {
                            scan.line(fingerprinter, line, at, None);
                        })
                        .await
                        .map_err(|e| e.to_string()),
                    None => Ok(true),
                },
                Kind::Group { unit, logs, .. } if logs.is_empty() => match unit {
                    Some(unit) => {
                        group_logs::journal(unit, after, now, self.cfg.scan_timeout, |line, at, stated| {
                            scan.line(fingerprinter, line, at, stated);
                        })
                        .await
                        .map_err(|e| e.to_string())
                    }
                    None => Ok(true),
                },
                Kind::Group { logs, .. } => {
                    let mut result = Ok(true);
                    for path in logs {
                        if let Err(e) =
                            self.files.read_new(path, |line| scan.line(fingerprinter, line, now, None))
                        {
                            result = Err(format!("{}: {e}", path.display()));
                        }
                    }
                    result
                }
            };
            match finished {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(member = %t.member.name, timeout = ?self.cfg.scan_timeout, "log scan cut short")
                }
                Err(e) => {
                    tracing::warn!(member = %t.member.name, error = %e, "log scan failed; the report counts no lines of it")
                }
            }
            let entry = apps
                .entry(t.member.app.clone())
                .or_insert_with(|| (configured(&self.cfg, &t.member.app), Vec::new()));
            labelled(&mut entry.0, &t.member);
            entry.1.push(Part {
                name: t.member.name.clone(),
                figures,
                errors: scan.errors,
                warnings: scan.warnings,
                issues: scan.ranked(),
            });
        }
        self.members.retain(|_, t| t.present);
        if started.elapsed() > self.cfg.report_interval {
            tracing::warn!(took = ?started.elapsed(), "the log scan took longer than a report interval");
        }
        self.window_start = until;
        let mut report = report::build(&self.customer, now, self.hostname.clone(), apps);
        keep_what_checks(&mut report);
        report
    }
}

/// What the config's catalog says of `app`.
fn configured(cfg: &ControllerConfig, app: &str) -> Catalog {
    cfg.catalog(app)
        .map(|a| Catalog {
            display_name: a.display_name.clone(),
            catalog_estimate: a.catalog_estimate.clone(),
            catalog_limit: a.catalog_limit.clone(),
        })
        .unwrap_or_default()
}

/// A container's labels say what the catalog says, and win over the config.
fn labelled(c: &mut Catalog, member: &Member) {
    let Kind::Container { container, .. } = &member.kind else { return };
    for (label, field) in [
        (DISPLAY_NAME_LABEL, &mut c.display_name),
        (ESTIMATE_LABEL, &mut c.catalog_estimate),
        (LIMIT_LABEL, &mut c.catalog_limit),
    ] {
        if let Some(v) = container.labels.get(label).filter(|v| !v.is_empty()) {
            field.clone_from(v);
        }
    }
}

/// A second, in nanoseconds: how far back a report's log window ends.
const LOG_LAG_NANOS: i64 = 1_000_000_000;

/// Leaves out each app the hub's check would refuse (a label too long, a name with control
/// characters), saying why: one bad app must not make the hub refuse every app's report.
fn keep_what_checks(report: &mut Report) {
    let bare = Report { app_telemetry: Vec::new(), ..report.clone() };
    report.app_telemetry.retain(|app| {
        let mut alone = Report { app_telemetry: vec![app.clone()], ..bare.clone() };
        alone.app_telemetry[0].issues.retain(|i| !i.message.trim().is_empty());
        match tailrace_schemas::report_check::check(&mut alone) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(app = %app.app_name, error = %e, "an app the hub would refuse is left out of the report");
                false
            }
        }
    });
}

/// The time a window that starts at `saved` (the last report's) may start at now: no earlier
/// than one report interval back.
pub fn resume_from(saved: Option<Timestamp>, now: Timestamp, interval: std::time::Duration) -> Timestamp {
    let floor = now.saturating_add_nanos(-i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX));
    saved.map_or(now, |s| s.max(floor).min(now))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
