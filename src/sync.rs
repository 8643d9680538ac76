//! `tailrace sync [TARGET]`: one sync of the configured targets, in this process, with a
//! progress bar. Targets on `local` read a directory of this machine; a target on a
//! `[[tail.hosts]]` entry is read over SSH with that entry's address, user, key and known_hosts.

use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tailrace_producers::sync::configured::{sync_configured, target_dir, transport_for};
use tailrace_producers::sync::{Progress, TargetConfig};
use tailrace_schemas::categories::Rules;

use crate::config::Config;

pub async fn once(cfg: &Config, only: Option<&str>) -> anyhow::Result<()> {
    let targets: Vec<&TargetConfig> =
        cfg.sync.targets.iter().filter(|t| only.is_none_or(|name| t.name == name)).collect();
    if targets.is_empty() {
        match only {
            Some(name) => bail!(
                "no sync target is called {name:?}; the targets are: {}",
                cfg.sync.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            None => bail!("no [[sync.targets]] are configured"),
        }
    }
    let classify = &cfg.processors.classify;
    let rules = Rules::new(&classify.rules, classify.default_rules).context("processors.classify.rules")?;
    let (client, _) = crate::cli::connect_client(cfg, "tailrace-sync").await?;
    let publisher = tailrace_nats::Publisher::new(client.clone(), cfg.nats.publisher.clone());
    for t in targets {
        let transport = transport_for(t, &cfg.tail.hosts)?;
        let files = target_dir(&cfg.data_dir, t).join("files");
        eprintln!("sync {}: {}:{} → {}", t.name, t.host, t.remote_path, files.display());
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} files {msg} [{elapsed}]")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let progress = |p: &Progress| {
            bar.set_length(p.files);
            bar.set_position(p.files_done);
            let rate = p.bytes as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} read, {}/s", human(p.bytes as f64), human(rate)));
        };
        let outcome = sync_configured(t, &transport, &cfg.data_dir, &rules, &publisher, progress)
            .await
            .map_err(|e| anyhow::anyhow!("sync target {:?}: {e}", t.name))?;
        bar.finish_and_clear();
        report(&format!(
            "sync {}: {} files: {} new, {} appended, {} fetched again, {} removed, {} unchanged; {} read, {} lines published, {} errors, {:.2?}",
            t.name,
            outcome.files,
            outcome.created,
            outcome.appended,
            outcome.modified,
            outcome.removed,
            outcome.unchanged,
            human(outcome.bytes_read as f64),
            outcome.lines_published,
            outcome.errors.len(),
            outcome.duration
        ));
        for e in &outcome.errors {
            eprintln!("sync {}: {e}", t.name);
        }
    }
    client.flush().await.ok();
    Ok(())
}

#[allow(clippy::print_stdout)] // what was moved is the command's output
fn report(line: &str) {
    println!("{line}");
}

fn human(bytes: f64) -> String {
    match bytes {
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}
