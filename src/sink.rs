//! `tailrace sink NAME...`: chosen sinks alone, and the sinks of `tailrace run`; `--dump`
//! prints a sink's table.

use std::path::PathBuf;

use anyhow::Context as _;
use tailrace_nats::Publisher;
use tailrace_sinks::{SinkContext, Tables};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::running::Running;

/// Where this process's tables live.
pub fn tables_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("sled")
}

/// Opens this process's tables (once per process).
pub fn open_tables(cfg: &Config) -> anyhow::Result<Tables> {
    Ok(Tables::open(&tables_dir(cfg))?)
}

/// Starts each named sink on `client` with `tables`.
pub async fn start(
    cfg: &Config,
    client: &async_nats::Client,
    tables: &Tables,
    names: &[String],
    cancel: &CancellationToken,
) -> anyhow::Result<Running> {
    let ctx = SinkContext {
        client: client.clone(),
        publisher: Publisher::new(client.clone(), cfg.nats.publisher.clone()),
        consumer: cfg.nats.consumer.clone(),
        tables: tables.clone(),
        retention: cfg.sinks.retention.clone(),
    };
    let mut running = Running::default();
    for name in names {
        let task = tailrace_sinks::start(name, ctx.clone(), cancel.clone())
            .await
            .with_context(|| format!("cannot start sink {name}"))?;
        running.push(format!("sink {name}"), task);
    }
    Ok(running)
}

pub async fn run(cfg: Config, names: Vec<String>, cancel: CancellationToken) -> anyhow::Result<()> {
    let tables = open_tables(&cfg)?;
    let session = crate::session::Session::open(&cfg, "tailrace-sink", &cancel).await?;
    let running = start(&cfg, &session.client, &tables, &names, &cancel).await?;
    eprintln!(
        "keeping the tables of {} in {} (replica {}; Ctrl-C stops after the last window is written)",
        names.join(", "),
        tables.path().display(),
        tables.replica()
    );
    let result = running.wait(&cancel).await;
    cancel.cancel();
    session.close().await;
    result
}

/// Prints the rows of sink `name` as JSON lines (the tables must not be open elsewhere).
pub fn dump(cfg: &Config, name: &str) -> anyhow::Result<()> {
    let Some(stream) = tailrace_sinks::input_of(name) else {
        anyhow::bail!("no sink is called {name:?}; `tailrace sink --list` names them");
    };
    let tables = open_tables(cfg).context("cannot open the tables (is a tailrace using this data_dir?)")?;
    let applied = tables.applied(name, stream)?;
    let rows = match name {
        // The issue table reads best as its rows.
        "issues" => {
            let view = tailrace_sinks::issues::IssuesView::new(&tables)?;
            let query = tailrace_sinks::issues::IssueQuery { limit: usize::MAX, ..Default::default() };
            let issues = view.list(&query, tailrace_schemas::Timestamp::now())?.issues;
            for issue in &issues {
                crate::cli::say(&serde_json::to_string(&issue.row)?);
            }
            issues.len()
        }
        // Other tables as they are stored: each row's key and value in hex.
        _ => {
            let rows = tables.rows(name)?;
            for (k, v) in &rows {
                crate::cli::say(&serde_json::json!({ "key": hex(k), "value": hex(v) }).to_string());
            }
            rows.len()
        }
    };
    eprintln!("sink {name}: {rows} rows, applied up to sequence {applied} of {}", stream.as_str());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
