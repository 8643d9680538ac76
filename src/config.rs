//! The configuration file: TOML, every section optional, every key overridable from the
//! environment as `TAILRACE_<SECTION>__<KEY>` (`TAILRACE_GATEWAY__BIND=0.0.0.0:8080`).
//! Unknown keys and bad values are errors that name the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use tailrace_gateway::GatewayConfig;
use tailrace_nats::NatsConfig;
use tailrace_processors::registry::ProcessorsConfig;
use tailrace_producers::tail::TailSection;
use tailrace_sinks::SinksConfig;

const DEFAULT_FILE: &str = "tailrace.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the managed nats-server's store and the sled tables live.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub nats: NatsConfig,
    pub gateway: GatewayConfig,
    pub tail: TailSection,
    pub processors: ProcessorsConfig,
    pub sinks: SinksConfig,
    pub sync: tailrace_producers::sync::SyncConfig,
    pub controller: tailrace_controller::ControllerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("tailrace-data"),
            log: LogConfig::default(),
            nats: NatsConfig::default(),
            gateway: GatewayConfig::default(),
            tail: TailSection::default(),
            processors: ProcessorsConfig::default(),
            sinks: SinksConfig::default(),
            sync: Default::default(),
            controller: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `tailrace=debug,async_nats=warn`); RUST_LOG overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Reads `path` (or ./tailrace.toml if present), then the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        match path {
            Some(p) => {
                if !p.is_file() {
                    bail!("config file {} does not exist", p.display());
                }
                figment = figment.merge(Toml::file_exact(p));
            }
            None if Path::new(DEFAULT_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_FILE))
            }
            None => {}
        }
        figment = figment.merge(Env::prefixed("TAILRACE_").split("__").ignore(&["config"]));
        let cfg: Config = figment.extract().map_err(describe)?;
        cfg.gateway.validate().context("invalid gateway configuration")?;
        cfg.processors.validate(&cfg.nats.consumer).context("invalid processors configuration")?;
        cfg.sinks.validate().context("invalid sinks configuration")?;
        cfg.sync.validate().context("invalid sync configuration")?;
        cfg.tail.validate().context("invalid tail configuration")?;
        Ok(cfg)
    }
}

/// One line per error: the dotted key, what was wrong, and where the value came from.
fn describe(err: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let mut key = e.path.join(".");
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                if !key.ends_with(field.as_str()) {
                    key = if key.is_empty() { field.clone() } else { format!("{key}.{field}") };
                }
            }
            let source = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
            format!("{}: {}{source}", if key.is_empty() { "<root>" } else { &key }, e.kind)
        })
        .collect();
    anyhow::anyhow!("invalid configuration:\n  {}", lines.join("\n  "))
}
