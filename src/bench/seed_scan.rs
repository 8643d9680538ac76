//! The seed controller's log scan, for `tailrace bench controller` to run beside ours: every
//! cycle, each container in turn through `docker logs --since=15m --tail=1000` (10 s timeout,
//! stdout and stderr together), lines that are not UTF-8 skipped, cut to 500 bytes, the seed's
//! first-five-words rule for severity, and its fingerprint (leading timestamp stripped, runs of
//! 6+ digits, hex of 8+ and UUIDs replaced, lowercased) to group issues.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use regex::Regex;
use tailrace_processors::line::severity::from_words;
use tailrace_schemas::Severity;

pub struct SeedScan {
    iso: Regex,
    syslog: Regex,
    uuid: Regex,
    hex: Regex,
    digits: Regex,
}

/// What one cycle saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    pub lines: u64,
    pub errors: u64,
    pub warnings: u64,
    pub issues: u64,
}

impl SeedScan {
    pub fn new() -> Self {
        let re = |r: &str| Regex::new(r).expect("the seed's patterns compile");
        Self {
            iso: re(r"^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}[.\d]*[Z ]?"),
            syslog: re(r"^[A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} "),
            uuid: re(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
            hex: re(r"(?i)\b[0-9a-f]{8,}\b"),
            digits: re(r"\d{6,}"),
        }
    }

    fn fingerprint(&self, line: &str) -> String {
        let s = self.iso.replace(line, "");
        let s = self.syslog.replace(&s, "");
        let s = self.uuid.replace_all(&s, "<UUID>");
        let s = self.hex.replace_all(&s, "<HEX>");
        let s = self.digits.replace_all(&s, "<N>");
        s.trim().to_lowercase()
    }

    /// One cycle over `containers`, one after another.
    pub async fn cycle(&self, containers: &[String]) -> Seen {
        let mut seen = Seen::default();
        let mut kept = 0u64;
        for name in containers {
            let run = tokio::process::Command::new("docker")
                .args(["logs", "--since=15m", "--tail=1000", name])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output();
            let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), run).await else { continue };
            let mut groups: HashMap<String, u64> = HashMap::new();
            for raw in out.stdout.split(|b| *b == b'\n').chain(out.stderr.split(|b| *b == b'\n')) {
                let Ok(line) = std::str::from_utf8(raw) else { continue };
                if line.is_empty() {
                    continue;
                }
                seen.lines += 1;
                let mut end = line.len().min(500);
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                let line = &line[..end];
                match from_words(line) {
                    Some(Severity::Error) => seen.errors += 1,
                    Some(Severity::Warn) => seen.warnings += 1,
                    _ => continue,
                }
                *groups.entry(self.fingerprint(line)).or_insert(0) += 1;
            }
            kept += (groups.len() as u64).min(10);
        }
        seen.issues = kept.min(50);
        seen
    }
}
