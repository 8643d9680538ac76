//! `[sync]`: the targets a sync mirrors.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[sync]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    pub targets: Vec<TargetConfig>,
}

/// One `[[sync.targets]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The target's name: its directory under `data_dir/sync/`, its subjects' token.
    pub name: String,
    /// A `[[tail.hosts]]` entry by name (its address, user, key and known_hosts policy), or
    /// `local`: a directory of this machine.
    pub host: String,
    /// The directory mirrored.
    pub remote_path: String,
    /// Globs of relative paths to take (default: everything).
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of relative paths to leave out (after `include`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// A cron expression with seconds (tokio-cron-scheduler), or none with `interval`.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Bytes per second at most (0 or none: no cap).
    #[serde(default)]
    pub bandwidth: Option<u64>,
    /// How an SSH host's files are read: `auto` (a shell if the host runs commands, else
    /// SFTP), `shell` (`find`, `tail | head` over exec channels) or `sftp`.
    #[serde(default)]
    pub transfer: Transfer,
    /// Whether an SSH host is asked to compress the session (zlib): log text shrinks several
    /// times on the wire, for the server's CPU.
    #[serde(default = "yes")]
    pub compress: bool,
    /// Copies of files not modified for this long are kept compressed (zstd), still readable,
    /// searchable and tail-able through the logs API.
    #[serde(default, with = "humantime_serde")]
    pub compress_after: Option<Duration>,
    /// Copies of files not modified for this long are deleted, and such files are not fetched.
    #[serde(default, with = "humantime_serde")]
    pub delete_after: Option<Duration>,
}

fn yes() -> bool {
    true
}

/// How an SSH host's files are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transfer {
    #[default]
    Auto,
    Shell,
    Sftp,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("sync.targets[{index}].{field}: {reason}")]
    Field { index: usize, field: &'static str, reason: String },
}

impl SyncConfig {
    /// Every target is usable: names unique and usable as a directory and a subject token,
    /// a path, globs that compile, at most one of schedule and interval.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |index, field, reason: String| ConfigError::Field { index, field, reason };
        for (i, t) in self.targets.iter().enumerate() {
            if t.name.is_empty() || !t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(i, "name", format!("{:?}: use letters, digits, '-' and '_'", t.name)));
            }
            if self.targets[..i].iter().any(|o| o.name == t.name) {
                return Err(err(i, "name", format!("{:?} names two targets", t.name)));
            }
            if t.host.trim().is_empty() {
                return Err(err(i, "host", "a [[tail.hosts]] name, or \"local\"".into()));
            }
            if t.remote_path.trim().is_empty() {
                return Err(err(i, "remote_path", "the directory to mirror is required".into()));
            }
            for (field, globs) in [("include", &t.include), ("exclude", &t.exclude)] {
                for g in globs {
                    globset::Glob::new(g).map_err(|e| err(i, field, format!("{g:?}: {}", e.kind())))?;
                }
            }
            if t.schedule.is_some() && t.interval.is_some() {
                return Err(err(i, "schedule", "give a schedule or an interval, not both".into()));
            }
            if t.interval.is_some_and(|d| d.is_zero()) {
                return Err(err(i, "interval", "must be longer than zero".into()));
            }
            for (field, age) in [("compress_after", t.compress_after), ("delete_after", t.delete_after)] {
                if age.is_some_and(|d| d.is_zero()) {
                    return Err(err(i, field, "must be longer than zero".into()));
                }
            }
            if let (Some(c), Some(d)) = (t.compress_after, t.delete_after) {
                if d <= c {
                    return Err(err(
                        i,
                        "delete_after",
                        format!(
                            "{} is not after compress_after ({}): nothing would be compressed",
                            humantime::format_duration(d),
                            humantime::format_duration(c)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> TargetConfig {
        TargetConfig {
            name: name.into(),
            host: "local".into(),
            remote_path: "/var/log".into(),
            include: vec![],
            exclude: vec![],
            schedule: None,
            interval: None,
            bandwidth: None,
            transfer: Transfer::Auto,
            compress: true,
            compress_after: None,
            delete_after: None,
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let ok = SyncConfig { targets: vec![target("a"), target("b")] };
        assert_eq!(ok.validate(), Ok(()));
        let cases: Vec<(SyncConfig, &str)> = vec![
            (SyncConfig { targets: vec![target("a b")] }, "sync.targets[0].name"),
            (SyncConfig { targets: vec![target("a"), target("a")] }, "sync.targets[1].name"),
            (
                SyncConfig { targets: vec![TargetConfig { host: " ".into(), ..target("a") }] },
                "sync.targets[0].host",
            ),
            (
                SyncConfig { targets: vec![TargetConfig { remote_path: "".into(), ..target("a") }] },
                "sync.targets[0].remote_path",
            ),
            (
                SyncConfig { targets: vec![TargetConfig { include: vec!["a[".into()], ..target("a") }] },
                "sync.targets[0].include",
            ),
            (
                SyncConfig {
                    targets: vec![TargetConfig {
                        schedule: Some("0 * * * * *".into()),
                        interval: Some(Duration::from_secs(60)),
                        ..target("a")
                    }],
                },
                "sync.targets[0].schedule",
            ),
            (
                SyncConfig {
                    targets: vec![TargetConfig {
                        compress_after: Some(Duration::from_secs(86_400)),
                        delete_after: Some(Duration::from_secs(3_600)),
                        ..target("a")
                    }],
                },
                "sync.targets[0].delete_after",
            ),
            (
                SyncConfig {
                    targets: vec![TargetConfig { compress_after: Some(Duration::ZERO), ..target("a") }],
                },
                "sync.targets[0].compress_after",
            ),
        ];
        for (cfg, field) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
    }
}
