//! `tailrace sync [TARGET] [--now]`: one sync of the configured targets. Where a sync role runs
//! (`tailrace run` or `tailrace produce` with these targets), it is asked to sync, so a sync it
//! has under way is joined rather than refused; otherwise, and always with `--now`, the sync
//! runs in this process with a progress bar. Targets on `local` read a directory of this
//! machine; a target on a `[[tail.hosts]]` entry is read over SSH with that entry's address,
//! user, key and known_hosts.

use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tailrace_producers::sync::configured::{sync_configured, target_dir, transport_for};
use tailrace_producers::sync::{Progress, SyncOutcome, TargetConfig};
use tailrace_schemas::categories::Rules;
use tailrace_schemas::{subject, TargetId};

use crate::config::Config;

pub async fn once(cfg: &Config, only: Option<&str>, now: bool) -> anyhow::Result<()> {
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
    if !now && through_role(&client, &targets).await? {
        return Ok(());
    }
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
        let outcome = sync_configured(t, &mut None, &transport, &cfg.data_dir, &rules, &publisher, progress)
            .await
            .map_err(|e| anyhow::anyhow!("sync target {:?}: {e}", t.name))?;
        bar.finish_and_clear();
        said(&t.name, &outcome);
    }
    tailrace_nats::connect::flush_within(&client, tailrace_nats::connect::FLUSH_WAIT).await;
    Ok(())
}

/// Asks the sync role to sync `targets`, if one runs and serves them all; whether it did.
async fn through_role(client: &async_nats::Client, targets: &[&TargetConfig]) -> anyhow::Result<bool> {
    let asked =
        tokio::time::timeout(Duration::from_secs(2), client.request(subject::SYNC_STATUS, "".into())).await;
    let Ok(Ok(reply)) = asked else {
        eprintln!("no sync role answers: syncing in this process");
        return Ok(false);
    };
    let served: Vec<serde_json::Value> = serde_json::from_slice(&reply.payload).unwrap_or_default();
    if !targets.iter().all(|t| served.iter().any(|s| s["target"] == t.name.as_str())) {
        eprintln!("the running sync role does not serve these targets: syncing in this process");
        return Ok(false);
    }
    for t in targets {
        eprintln!("sync {}: asked the running sync role (a sync under way there is joined)…", t.name);
        let request =
            async_nats::Request::new().payload("".into()).timeout(Some(Duration::from_secs(24 * 3600)));
        let reply = client
            .send_request(subject::sync_trigger(&TargetId::new(t.name.clone())).as_str().to_owned(), request)
            .await
            .with_context(|| format!("asking the sync role to sync {:?}", t.name))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&reply.payload).context("the sync role's answer")?;
        match serde_json::from_value::<SyncOutcome>(answer["outcome"].clone()) {
            Ok(outcome) if answer["status"] == "done" => said(&t.name, &outcome),
            _ => bail!("sync target {:?}: {}", t.name, answer["error"].as_str().unwrap_or("the sync failed")),
        }
    }
    Ok(true)
}

/// What a sync moved, on stdout; its errors on stderr.
fn said(target: &str, outcome: &SyncOutcome) {
    report(&format!(
        "sync {target}: {} files: {} new, {} appended, {} fetched again, {} removed, {} unchanged; {} compressed, {} expired; {} read, {} lines published, {} errors, {:.2?}",
        outcome.files,
        outcome.created,
        outcome.appended,
        outcome.modified,
        outcome.removed,
        outcome.unchanged,
        outcome.compressed,
        outcome.expired,
        human(outcome.bytes_read as f64),
        outcome.lines_published,
        outcome.errors.len(),
        outcome.duration
    ));
    for e in &outcome.errors {
        eprintln!("sync {target}: {e}");
    }
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
