//! Category rules: the first rule whose every condition holds names a line's (or a file's)
//! category. Shared by the classify processor (lines) and the sync producer (files), which must
//! not depend on each other, so they live here, I/O-free.
//!
//! A rule may test the host, the source and the file path (globs) and the line (a regex).
//! Conditions on the file are decided once per batch; only the surviving rules that test the
//! line run per line. After the configured rules come the defaults (unless turned off): the
//! live-tail catalog's names (a `genesis` source is category `genesis`) and the seed log
//! service's file-name patterns (server, client, monitoring, vllm, slurm, logs); a line no rule
//! takes is `uncategorized`.

use crate::{Catalog, Category, HostId, SourceId};
use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The category of lines no rule takes.
pub const UNCATEGORIZED: &str = "uncategorized";

/// One rule as written in the config (`[[processors.classify.rules]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub category: String,
    /// Glob on the host name (`db-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Glob on the source name (`genesis`, `nginx-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Glob on the file path; one without `/` is matched against the file name alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Regex on the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rules[{index}].{field}: invalid glob {pattern:?}: {reason}")]
    Glob { index: usize, field: &'static str, pattern: String, reason: String },
    #[error("rules[{index}].line: invalid regex {pattern:?}: {reason}")]
    Regex { index: usize, pattern: String, reason: String },
    #[error("rules[{index}].category: must not be empty")]
    EmptyCategory { index: usize },
    #[error("rules[{index}]: a rule needs at least one of host, source, path, line")]
    NoCondition { index: usize },
}

#[derive(Debug, Clone)]
struct Rule {
    category: Category,
    host: Option<GlobMatcher>,
    source: Option<GlobMatcher>,
    /// (matcher, whether it applies to the file name alone)
    path: Option<(GlobMatcher, bool)>,
    line: Option<Regex>,
}

/// The ordered rules, compiled.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    fallback: Category,
}

/// The seed log service's file-name patterns, in its order (so `slurm-job` is `server`).
const SEED_PATTERNS: &[(&str, &[&str])] = &[
    ("server", &["*server-*", "*orchestrator*", "*slurm-job*"]),
    ("client", &["*client-*", "*benchmark-*"]),
    ("monitoring", &["*monitor*", "*prometheus*", "*grafana*"]),
    ("vllm", &["*vllm*", "*model-server*", "*inference*"]),
    ("slurm", &["*.err", "*.out", "*slurm-*", "*sbatch*"]),
    ("logs", &["*logs-service*"]),
];

/// The default rules: catalog names, then the seed's file-name patterns.
pub fn default_rules() -> Vec<RuleConfig> {
    let mut rules = Vec::new();
    let mut names: Vec<String> =
        Catalog::default().kinds.values().flatten().map(|f| f.name.clone()).collect();
    names.sort();
    names.dedup();
    for name in names {
        rules.push(RuleConfig {
            category: name.clone(),
            host: None,
            source: Some(name),
            path: None,
            line: None,
        });
    }
    for (category, patterns) in SEED_PATTERNS {
        for p in *patterns {
            rules.push(RuleConfig {
                category: (*category).to_owned(),
                host: None,
                source: None,
                path: Some((*p).to_owned()),
                line: None,
            });
        }
    }
    rules
}

/// A host, source or path glob of the config, as every config section reads one: case
/// insensitive, `*` not crossing `/`. `Err` is why, for a person.
pub fn config_glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

fn glob(index: usize, field: &'static str, pattern: &str) -> Result<GlobMatcher, RuleError> {
    config_glob(pattern).map_err(|reason| RuleError::Glob {
        index,
        field,
        pattern: pattern.to_owned(),
        reason,
    })
}

impl Rules {
    /// Compiles `configured`, then the defaults when `defaults` is set. Errors name the rule.
    pub fn new(configured: &[RuleConfig], defaults: bool) -> Result<Self, RuleError> {
        let mut all: Vec<RuleConfig> = configured.to_vec();
        if defaults {
            all.extend(default_rules());
        }
        let mut rules = Vec::with_capacity(all.len());
        for (index, r) in all.iter().enumerate() {
            if r.category.trim().is_empty() {
                return Err(RuleError::EmptyCategory { index });
            }
            if r.host.is_none() && r.source.is_none() && r.path.is_none() && r.line.is_none() {
                return Err(RuleError::NoCondition { index });
            }
            rules.push(Rule {
                category: Category::new(r.category.clone()),
                host: r.host.as_deref().map(|p| glob(index, "host", p)).transpose()?,
                source: r.source.as_deref().map(|p| glob(index, "source", p)).transpose()?,
                path: r
                    .path
                    .as_deref()
                    .map(|p| Ok((glob(index, "path", p)?, !p.contains('/'))))
                    .transpose()?,
                line: r
                    .line
                    .as_deref()
                    .map(|p| {
                        Regex::new(p).map_err(|e| RuleError::Regex {
                            index,
                            pattern: p.to_owned(),
                            reason: e.to_string(),
                        })
                    })
                    .transpose()?,
            });
        }
        Ok(Self { rules, fallback: Category::new(UNCATEGORIZED) })
    }

    /// The rules that can still take lines of this file.
    pub fn for_file(&self, host: &HostId, source: &SourceId, path: &str) -> FileRules<'_> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let mut candidates = Vec::new();
        for rule in &self.rules {
            let holds = rule.host.as_ref().is_none_or(|g| g.is_match(host.as_str()))
                && rule.source.as_ref().is_none_or(|g| g.is_match(source.as_str()))
                && rule
                    .path
                    .as_ref()
                    .is_none_or(|(g, name_only)| g.is_match(if *name_only { name } else { path }));
            if holds {
                candidates.push(rule);
                if rule.line.is_none() {
                    // Takes every line that reaches it: later rules never run.
                    break;
                }
            }
        }
        FileRules { candidates, fallback: &self.fallback }
    }
}

/// The rules left for one file's lines.
#[derive(Debug)]
pub struct FileRules<'r> {
    candidates: Vec<&'r Rule>,
    fallback: &'r Category,
}

impl<'r> FileRules<'r> {
    pub fn category(&self, line: &str) -> &'r Category {
        self.candidates
            .iter()
            .find(|r| r.line.as_ref().is_none_or(|re| re.is_match(line)))
            .map_or(self.fallback, |r| &r.category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(rules: &Rules, host: &str, source: &str, path: &str, line: &str) -> String {
        rules.for_file(&HostId::new(host), &SourceId::new(source), path).category(line).as_str().to_owned()
    }

    #[test]
    fn defaults_follow_the_catalog_then_the_seed_patterns() {
        let rules = Rules::new(&[], true).unwrap();
        assert_eq!(
            category(&rules, "cvm1", "genesis", "/home/nutanix/data/logs/genesis.out", "x"),
            "genesis"
        );
        assert_eq!(category(&rules, "h", "f", "/data/server-01.log", "x"), "server");
        assert_eq!(category(&rules, "h", "f", "/data/slurm-job-7.log", "x"), "server");
        assert_eq!(category(&rules, "h", "f", "/data/job_67890.err", "x"), "slurm");
        assert_eq!(category(&rules, "h", "f", "/data/Prometheus.log", "x"), "monitoring");
        assert_eq!(category(&rules, "h", "f", "/data/vllm.log", "x"), "vllm");
        assert_eq!(category(&rules, "h", "f", "/data/benchmark-a.txt", "x"), "client");
        assert_eq!(category(&rules, "h", "f", "/data/other.txt", "x"), UNCATEGORIZED);
    }

    #[test]
    fn configured_rules_come_first_and_all_conditions_must_hold() {
        let rules = Rules::new(
            &[
                RuleConfig {
                    category: "db".into(),
                    host: Some("db-*".into()),
                    source: None,
                    path: Some("/var/log/postgresql/*.log".into()),
                    line: None,
                },
                RuleConfig {
                    category: "oom".into(),
                    host: None,
                    source: None,
                    path: None,
                    line: Some("Out of memory".into()),
                },
            ],
            true,
        )
        .unwrap();
        assert_eq!(category(&rules, "db-1", "pg", "/var/log/postgresql/main.log", "x"), "db");
        assert_eq!(category(&rules, "web-1", "pg", "/var/log/postgresql/main.log", "x"), UNCATEGORIZED);
        assert_eq!(category(&rules, "web-1", "genesis", "/x", "kernel: Out of memory: kill"), "oom");
        assert_eq!(category(&rules, "web-1", "genesis", "/x", "fine"), "genesis");
    }

    #[test]
    fn bad_rules_are_refused_with_their_place() {
        let bad = |r: RuleConfig| Rules::new(&[r], false).unwrap_err().to_string();
        let rule = |line: Option<&str>, path: Option<&str>| RuleConfig {
            category: "c".into(),
            host: None,
            source: None,
            path: path.map(Into::into),
            line: line.map(Into::into),
        };
        assert!(bad(rule(Some("("), None)).starts_with("rules[0].line: invalid regex"));
        assert!(bad(rule(None, Some("[a"))).starts_with("rules[0].path: invalid glob"));
        assert!(bad(rule(None, None)).contains("at least one of"));
    }
}
