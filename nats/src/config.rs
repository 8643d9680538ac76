//! The `[nats]` configuration. Every field has a default, so an empty section is valid; unknown
//! keys are refused so a typo is an error that names the key, not a silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated (`nats://10.0.0.1:4222,nats://10.0.0.2:4222`). When unset,
    /// `tailrace run` starts and manages a local nats-server (see `server`).
    pub url: Option<String>,
    /// A `.creds` file (JWT and NKey seed) for decentralized auth.
    pub credentials: Option<PathBuf>,
    /// User and password, for servers that use them. Unset with the managed server: its own
    /// generated credentials are used (see `server`).
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub tls: TlsConfig,
    pub reconnect: ReconnectConfig,
    /// The managed local server, used only when `url` is unset.
    pub server: ServerConfig,
    pub streams: StreamsConfig,
    pub publisher: PublisherConfig,
    pub consumer: ConsumerConfig,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Require TLS even if the URL does not say `tls://`.
    pub required: bool,
    /// PEM file of CA certificates to trust for the server.
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for mutual TLS (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectConfig {
    /// First delay after a lost connection; doubled each attempt up to `max_delay`.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// How long to wait for the first connection before giving up.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Path to the nats-server binary; when unset, `nats-server` is looked up on PATH.
    pub binary: Option<PathBuf>,
    /// Address the managed server listens on. Loopback by default; any other address needs
    /// `tls_cert` and `tls_key`, since its generated password must not cross a network in clear.
    pub host: String,
    pub port: u16,
    /// JetStream store; defaults to `<data_dir>/nats`.
    pub store_dir: Option<PathBuf>,
    /// How long to wait for the server to accept connections after a start.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// How often the running server is asked for its greeting.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// Failed health checks in a row after which a server that is still running (hung) is
    /// killed and restarted.
    pub health_failures: u32,
    /// How long a server left running by a crashed tailrace gets to stop after SIGTERM before
    /// it is killed, when a new start finds it on the store.
    #[serde(with = "humantime_serde")]
    pub stale_grace: Duration,
    /// When the managed server fsyncs its store: `always` (every write, before the ack), an
    /// interval (`1s`, the default), or `default` (nats-server's own, 2 minutes). An
    /// acknowledged message outlives a crash of the server process in every setting; a power
    /// loss or kernel crash loses what was acknowledged within the last interval, and nothing
    /// with `always` (BENCHMARKS.md has the cost: about 8 % for `1s`, half the throughput for
    /// `always`).
    pub sync_interval: SyncInterval,
    /// The most the managed server's JetStream may store, in bytes. Unset: nats-server's own
    /// limit, 75 % of the store disk's free space when it starts, so streams whose limits add
    /// up to more are refused at start (naming the stream) instead of filling the disk later.
    /// Set it when the store's disk is shared and its free space says little (tests do).
    pub max_store: Option<u64>,
    /// PEM certificate and key the managed server serves TLS with (required off loopback).
    /// Local clients then require TLS and verify it with `nats.tls.ca`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl ServerConfig {
    /// The JetStream store: `store_dir`, or `<data_dir>/nats`.
    pub fn store(&self, data_dir: &std::path::Path) -> PathBuf {
        self.store_dir.clone().unwrap_or_else(|| data_dir.join("nats"))
    }

    /// The `jetstream { … }` block of the managed server's config: the settings that differ
    /// from nats-server's defaults (empty when none do).
    pub fn jetstream_block(&self) -> String {
        let mut settings = Vec::new();
        if let Some(v) = self.sync_interval.server_setting() {
            settings.push(format!("  sync_interval: {v}\n"));
        }
        if let Some(bytes) = self.max_store {
            settings.push(format!("  max_file_store: {bytes}\n"));
        }
        if settings.is_empty() {
            return String::new();
        }
        format!("jetstream {{\n{}}}\n", settings.concat())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            binary: None,
            host: "127.0.0.1".into(),
            port: 4222,
            store_dir: None,
            ready_timeout: Duration::from_secs(15),
            health_interval: Duration::from_secs(5),
            health_failures: 3,
            stale_grace: Duration::from_secs(10),
            sync_interval: SyncInterval::default(),
            max_store: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// How often a nats-server fsyncs its JetStream store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncInterval {
    /// Before every acknowledgement.
    Always,
    /// At this interval.
    Every(Duration),
    /// nats-server's default (2 minutes).
    ServerDefault,
}

impl Default for SyncInterval {
    /// Once a second: a bounded loss on power loss for about 8 % of the pipeline's throughput.
    fn default() -> Self {
        SyncInterval::Every(Duration::from_secs(1))
    }
}

impl SyncInterval {
    /// The value of `jetstream { sync_interval: … }` in a nats-server config, if any.
    pub fn server_setting(&self) -> Option<String> {
        match self {
            SyncInterval::Always => Some("always".to_owned()),
            SyncInterval::Every(d) => Some(format!("\"{}ms\"", d.as_millis().max(1))),
            SyncInterval::ServerDefault => None,
        }
    }
}

impl Serialize for SyncInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SyncInterval::Always => s.serialize_str("always"),
            SyncInterval::Every(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            SyncInterval::ServerDefault => s.serialize_str("default"),
        }
    }
}

impl<'de> Deserialize<'de> for SyncInterval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "always" => Ok(SyncInterval::Always),
            "default" => Ok(SyncInterval::ServerDefault),
            other => humantime::parse_duration(other).map(SyncInterval::Every).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{other:?} is not \"always\", \"default\" or a duration such as \"2m\": {e}"
                ))
            }),
        }
    }
}

/// A secret string: serialized as itself, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Limits of one stream; unset fields keep the declared default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamLimits {
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
    pub max_bytes: Option<i64>,
    pub max_msgs_per_subject: Option<i64>,
}

/// `[nats.streams]`: replicas and the duplicate window of every stream, and per stream (under
/// its key in `tailrace_schemas::STREAMS`: `[nats.streams.logs]`, ...) limits that override the
/// declared defaults. A key that is neither is refused, naming the streams there are.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamsConfig {
    /// Replicas of every stream and bucket: 1 on one server, 3 on a 3-node cluster.
    pub replicas: usize,
    /// How long a `Nats-Msg-Id` is remembered for deduplication.
    pub duplicate_window: Duration,
    /// Stream key → limits given in the config.
    pub limits: BTreeMap<String, StreamLimits>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self { replicas: 1, duplicate_window: Duration::from_secs(120), limits: BTreeMap::new() }
    }
}

impl StreamsConfig {
    /// The limits configured for the stream with config key `key` (none set: defaults).
    pub fn limits_of(&self, key: &str) -> StreamLimits {
        self.limits.get(key).cloned().unwrap_or_default()
    }
}

impl Serialize for StreamsConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2 + self.limits.len()))?;
        map.serialize_entry("replicas", &self.replicas)?;
        map.serialize_entry(
            "duplicate_window",
            &humantime::format_duration(self.duplicate_window).to_string(),
        )?;
        for (key, limits) in &self.limits {
            map.serialize_entry(key, limits)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StreamsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StreamsConfig;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("replicas, duplicate_window, or a table of limits per stream")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StreamsConfig, A::Error> {
                let mut cfg = StreamsConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "replicas" => cfg.replicas = map.next_value()?,
                        "duplicate_window" => {
                            let text: String = map.next_value()?;
                            cfg.duplicate_window =
                                humantime::parse_duration(&text).map_err(serde::de::Error::custom)?;
                        }
                        stream if tailrace_schemas::streams::stream_by_key(stream).is_some() => {
                            cfg.limits.insert(key, map.next_value()?);
                        }
                        _ => {
                            let keys: Vec<&str> = tailrace_schemas::STREAMS.iter().map(|d| d.key).collect();
                            return Err(serde::de::Error::custom(format!(
                                "unknown field `{key}`: expected replicas, duplicate_window or a stream ({})",
                                keys.join(", ")
                            )));
                        }
                    }
                }
                Ok(cfg)
            }
        }
        d.deserialize_map(Visit)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublisherConfig {
    /// Messages published and not yet acknowledged; publishing waits when this many are out.
    pub max_in_flight: usize,
    /// How long to wait for one acknowledgement before publishing again with the same id.
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Attempts per message before the caller is told it failed.
    pub max_attempts: u32,
    /// Payloads of at least this many bytes are sent as a zstd frame (readers decompress them
    /// by their first bytes; see `tailrace_schemas::codec`). 0: never compress.
    pub compress_from: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 4096,
            ack_timeout: Duration::from_secs(5),
            max_attempts: 10,
            compress_from: 4096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Deliveries before a failing message goes to `dlq.{consumer}`.
    pub max_deliveries: u32,
    /// How long the server waits for an ack before redelivering.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Messages fetched per pull request.
    pub batch: usize,
    /// Messages a handler works on at once, on as many cores; their outputs are still published
    /// in input order. Aggregating handlers (a window) always take one at a time.
    pub concurrency: usize,
    /// Delay before the first redelivery of a failed message; doubled per delivery.
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_retry_delay: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_deliveries: 5,
            ack_wait: Duration::from_secs(30),
            batch: 256,
            concurrency: 4,
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(30),
        }
    }
}
