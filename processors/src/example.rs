//! `auth-failures`, the example processor: written by following processors/README.md, as a
//! developer adding a processor would. It finds failed SSH logins in classified lines and
//! publishes them per batch to `derived.auth-failures.{host}`, for a dashboard or an alert to
//! read. It is stateless: one input gives at most one output, with the id the runner derives
//! from the input, so a redelivery is stored once.

use std::future::Future;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use tailrace_nats::{Delivery, HandleError, Handler, Outgoing};
use tailrace_schemas::subject;
use tailrace_schemas::{
    ClassifiedBatch, ConsumerName, HostId, Payload, SourceId, StreamName, SubjectFilter, Timestamp,
};

use crate::runtime::{Inputs, Processor};

pub const NAME: &str = "auth-failures";

/// What `auth-failures` publishes: the failed logins of one classified batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthFailures {
    #[serde(default = "one")]
    pub v: u16,
    pub host: HostId,
    pub source: SourceId,
    pub failures: Vec<AuthFailure>,
    pub read_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFailure {
    /// The user name tried (`invalid user` names included).
    pub user: String,
    /// The address the attempt came from.
    pub from: String,
    /// The line's byte offset in its file.
    pub offset: u64,
}

fn one() -> u16 {
    1
}

impl Payload for AuthFailures {
    const KIND: &'static str = "AuthFailures";
    const VERSION: u16 = 1;
}

/// sshd's two wordings: `Failed password for [invalid user ]NAME from ADDR` and PAM's
/// `authentication failure; … rhost=ADDR [user=NAME]`.
static FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Failed (?:password|publickey) for (?:invalid user )?(\S+) from (\S+)").expect("valid regex")
});
static PAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"authentication failure;.*rhost=(\S*)(?:\s+user=(\S+))?").expect("valid regex")
});

#[derive(Debug)]
pub struct AuthFailuresProcessor {
    name: ConsumerName,
}

impl Default for AuthFailuresProcessor {
    fn default() -> Self {
        Self { name: ConsumerName::new(NAME).expect("a valid consumer name") }
    }
}

/// The failed logins in one batch.
pub fn failures(batch: &ClassifiedBatch) -> Vec<AuthFailure> {
    batch
        .lines
        .iter()
        .filter_map(|line| {
            if let Some(c) = FAILED.captures(&line.text) {
                return Some(AuthFailure {
                    user: c[1].to_owned(),
                    from: c[2].to_owned(),
                    offset: line.offset,
                });
            }
            let c = PAM.captures(&line.text)?;
            Some(AuthFailure {
                user: c.get(2).map_or_else(String::new, |m| m.as_str().to_owned()),
                from: c[1].to_owned(),
                offset: line.offset,
            })
        })
        .collect()
}

impl Handler for AuthFailuresProcessor {
    /// Stateless, so batches may be handled on every core.
    fn concurrent(&self) -> bool {
        true
    }

    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<Vec<Outgoing>, HandleError>> + Send {
        let result = (|| {
            let batch: ClassifiedBatch = tailrace_schemas::decode(delivery.payload())
                .map_err(|e| HandleError::Reject(format!("{NAME} on {}: {e}", delivery.subject())))?;
            let failures = failures(&batch);
            if failures.is_empty() {
                return Ok(Vec::new());
            }
            let subject = subject::derived(&self.name, &[batch.host.as_str()]);
            let out = AuthFailures {
                v: 1,
                host: batch.host,
                source: batch.source,
                failures,
                read_at: batch.read_at,
            };
            let msg = Outgoing::encode(subject, &out, delivery.output_id(NAME, 0))
                .map_err(|e| HandleError::Reject(e.to_string()))?;
            Ok(vec![msg])
        })();
        std::future::ready(result)
    }
}

impl Processor for AuthFailuresProcessor {
    fn name(&self) -> &ConsumerName {
        &self.name
    }

    fn inputs(&self) -> Inputs {
        Inputs { stream: StreamName::CLASSIFIED, filters: vec![StreamName::CLASSIFIED.decl().filter()] }
    }

    fn outputs(&self) -> Vec<SubjectFilter> {
        vec![SubjectFilter::parse(&format!("derived.{NAME}.>")).expect("a valid filter")]
    }

    fn description(&self) -> &'static str {
        "failed SSH logins: logs.classified.> -> derived.auth-failures.{host}"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailrace_schemas::{Category, ClassifiedLine, Severity};

    #[test]
    fn both_sshd_wordings_are_found() {
        let line = |offset, text: &str| ClassifiedLine {
            offset,
            text: text.to_owned(),
            truncated: false,
            lossy: false,
            continues: false,
        };
        let batch = ClassifiedBatch {
            v: 1,
            host: HostId::new("h"),
            source: SourceId::new("auth"),
            path: "/var/log/auth.log".into(),
            category: Category::new("auth"),
            severity: Severity::Info,
            lines: vec![
                line(0, "Dec 10 07:07:38 LabSZ sshd[24206]: Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2"),
                line(1, "Dec 10 07:07:45 LabSZ sshd[24208]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=123.235.32.19  user=root"),
                line(2, "Dec 10 07:08:28 LabSZ sshd[24245]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2"),
            ],
            read_at: Timestamp::from_nanos(0),
        };
        let found = failures(&batch);
        assert_eq!(
            found,
            vec![
                AuthFailure { user: "test9".into(), from: "52.80.34.196".into(), offset: 0 },
                AuthFailure { user: "root".into(), from: "123.235.32.19".into(), offset: 1 },
            ]
        );
    }
}
