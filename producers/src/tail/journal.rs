//! Following a systemd journal: `journalctl --follow --output=json` run on the host (over
//! SSH, or locally), each entry one line (or several, for a message of several lines) that
//! carries the entry's priority, resumed exactly after the cursor of the last entry handed to
//! the publisher (a batch stores its last entry's cursor, so a restarted producer continues
//! after the last stored one).
//!
//! A line reads as `journalctl -o short-iso-precise` prints it (`2026-12-05T19:30:00.123456Z
//! host sshd[812]: message`), so the time, host and program are where readers of syslog files
//! look for them, and the processors group it like any syslog line.

use std::sync::Arc;

use serde_json::Value;
use tailrace_schemas::{JournalPath, LogLine, TailStatusKind, Timestamp};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::run::{After, Followed, Progress, Tail};
use super::transport::{shell_quote, Connection};

/// The `journalctl` command that follows `journal` from after `cursor`, or from its last
/// `last_lines` entries when there is no cursor.
pub fn command(journal: &JournalPath, cursor: Option<&str>, last_lines: u32) -> String {
    let mut args: Vec<String> = ["--follow", "--output=json", "--all", "--quiet", "--no-pager"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    match cursor {
        // `--follow` alone shows only the last 10 entries after the cursor.
        Some(c) => args.extend([format!("--after-cursor={c}"), "--lines=all".to_owned()]),
        None => args.push(format!("--lines={last_lines}")),
    }
    args.extend(journal.journalctl_args());
    let mut command = String::from("exec journalctl");
    for a in args {
        command.push(' ');
        command.push_str(&shell_quote(&a));
    }
    // Its complaints come on the same stream, so the tail can say why it ended.
    command.push_str(" 2>&1");
    command
}

/// A field's text: the journal writes a field that is not valid UTF-8 as an array of bytes.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(bytes) => {
            let bytes: Vec<u8> = bytes.iter().filter_map(|b| b.as_u64().map(|b| b as u8)).collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        // A field given several times: the first.
        _ => None,
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub cursor: String,
    /// The entry's sequence number (the cursor's `i=`), the lines' `offset`.
    pub seqnum: u64,
    pub priority: Option<u8>,
    /// The lines as shown: the first with time, host and program, the rest of a message of
    /// several lines as they are.
    pub lines: Vec<String>,
}

/// Why a line of `journalctl` output is not an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("journalctl printed something that is not JSON ({0}): {1:?}")]
    NotJson(serde_json::Error, String),
    #[error("a journal entry without __CURSOR")]
    NoCursor,
}

/// Parses one line of `journalctl --output=json`.
pub fn parse(line: &str) -> Result<Entry, EntryError> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        let shown: String = line.chars().take(200).collect();
        EntryError::NotJson(e, shown)
    })?;
    let field = |name: &str| v.get(name).and_then(text);
    let cursor = field("__CURSOR").ok_or(EntryError::NoCursor)?;
    let seqnum = cursor
        .split(';')
        .find_map(|p| p.strip_prefix("i="))
        .and_then(|i| u64::from_str_radix(i, 16).ok())
        .unwrap_or(0);
    let micros = field("_SOURCE_REALTIME_TIMESTAMP")
        .or_else(|| field("__REALTIME_TIMESTAMP"))
        .and_then(|t| t.parse::<i64>().ok());
    let time = micros.map_or_else(String::new, |us| {
        let rfc = Timestamp::from_nanos(us.saturating_mul(1000)).to_rfc3339();
        // Microseconds, as the journal keeps them.
        match rfc.split_once('.') {
            Some((whole, frac)) => {
                let digits: String =
                    frac.chars().filter(char::is_ascii_digit).chain("000000".chars()).take(6).collect();
                format!("{whole}.{digits}Z")
            }
            None => rfc,
        }
    });
    let program = field("SYSLOG_IDENTIFIER").or_else(|| field("_COMM")).unwrap_or_else(|| "-".to_owned());
    let pid = field("SYSLOG_PID").or_else(|| field("_PID"));
    let host = field("_HOSTNAME").unwrap_or_else(|| "-".to_owned());
    let message = field("MESSAGE").unwrap_or_default();
    let priority = field("PRIORITY").and_then(|p| p.trim().parse::<u8>().ok()).filter(|p| *p <= 7);
    let head = match pid {
        Some(pid) => format!("{time} {host} {program}[{pid}]: "),
        None => format!("{time} {host} {program}: "),
    };
    let message = message.strip_suffix('\n').unwrap_or(&message);
    let mut lines: Vec<String> = message.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect();
    lines[0].insert_str(0, &head);
    Ok(Entry { cursor, seqnum, priority, lines })
}

/// Follows `journal` on `conn` from `progress.cursor` until the connection is lost or `cancel`.
pub(super) async fn follow(
    t: &mut Tail<'_>,
    conn: &Connection,
    journal: &JournalPath,
    progress: &mut Progress,
    cancel: &CancellationToken,
) -> Followed {
    let spec = t.spec;
    let command = command(journal, progress.cursor.as_deref(), t.cfg.last_lines);
    let output = match conn.open_shell(&command).await {
        Ok(o) => o,
        Err(e) => {
            t.report(
                TailStatusKind::ConnectionLost,
                format!("cannot run journalctl for {}: {e}", spec.path),
                None,
            )
            .await;
            return Followed::Lost;
        }
    };
    let (kind, message) = match &progress.cursor {
        Some(_) => {
            (TailStatusKind::Resumed, format!("following {} again after its last stored entry", spec.path))
        }
        None => (TailStatusKind::Started, format!("following {}", spec.path)),
    };
    progress.failures = 0;
    progress.lost = false;
    t.report(kind, message, None).await;
    let mut reader = BufReader::with_capacity(256 * 1024, output.output);
    let mut line = String::new();
    let max = t.cfg.max_line_bytes.max(1);
    let mut complaint: Option<String> = None;
    loop {
        // Entries already buffered are taken without waiting; when none is, what was taken is
        // published before waiting for more (as a file's chunk is).
        if reader.buffer().is_empty() {
            t.flush().await;
        }
        line.clear();
        let read = tokio::select! {
            _ = cancel.cancelled() => return Followed::Cancelled,
            r = reader.read_line(&mut line) => r,
        };
        match read {
            Ok(0) | Err(_) => {
                let reason = match (read, complaint) {
                    (Err(e), _) => e.to_string(),
                    (_, Some(said)) => format!("journalctl ended: {said}"),
                    _ => "journalctl ended".to_owned(),
                };
                t.flush().await;
                t.report(
                    TailStatusKind::ConnectionLost,
                    format!("lost {}: {reason}; reconnecting", spec.path),
                    None,
                )
                .await;
                return Followed::Lost;
            }
            Ok(_) => {}
        }
        let entry = match parse(line.trim_end_matches('\n')) {
            Ok(e) => e,
            Err(e) => {
                // journalctl's own complaint: kept to say why it ended, if it does.
                tracing::warn!(path = %spec.path, error = %e, "journalctl output skipped");
                complaint = Some(line.trim().chars().take(300).collect());
                continue;
            }
        };
        let cursor: Arc<str> = Arc::from(entry.cursor.as_str());
        let n = entry.lines.len();
        for (i, text) in entry.lines.into_iter().enumerate() {
            // Until the entry's last line, a resume would have to read the entry again.
            let after = match (&progress.cursor, i + 1 == n) {
                (_, true) => After::Cursor(cursor.clone()),
                (Some(before), false) => After::Cursor(before.clone()),
                (None, false) => After::Cursor(cursor.clone()),
            };
            for piece in pieces(&text, max) {
                let line = LogLine {
                    offset: entry.seqnum,
                    text: piece.to_owned(),
                    lossy: false,
                    priority: entry.priority,
                };
                t.push((line, after.clone())).await;
            }
        }
        progress.cursor = Some(cursor);
    }
}

/// `text` cut into pieces of at most `max` bytes, on character boundaries.
fn pieces(text: &str, max: usize) -> Vec<&str> {
    if text.len() <= max {
        return vec![text];
    }
    let (mut out, mut rest) = (Vec::new(), text);
    while !rest.is_empty() {
        let mut end = max.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        out.push(piece);
        rest = tail;
    }
    out
}

/// What a host has of a journal source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// At least one entry.
    Entries,
    /// A journal, but no entry for the source yet.
    Empty,
    NoJournalctl,
    /// journalctl refused the selection (what it said).
    Failed(String),
}

/// Prints `none`, `entries`, `empty`, or `failed` and journalctl's complaint.
const PROBE_SH: &str = r#"command -v journalctl >/dev/null 2>&1 || { echo none; exit 0; }
out=$(journalctl --quiet --no-pager --lines=1 --output=json "$@" 2>&1) || { printf 'failed %s' "$out"; exit 0; }
case "$out" in '{'*) echo entries ;; '') echo empty ;; *) printf 'failed %s' "$out" ;; esac
"#;

/// Asks the host of `conn` what it has of `journal`, in one round trip.
pub async fn probe(conn: &Connection, journal: &JournalPath) -> Result<Probe, String> {
    let mut command = format!("sh -c {} tailrace-journal-probe", shell_quote(PROBE_SH));
    for a in journal.journalctl_args() {
        command.push(' ');
        command.push_str(&shell_quote(&a));
    }
    let (out, _) = conn.run(&command).await?;
    let out = String::from_utf8_lossy(&out);
    let out = out.trim();
    Ok(match out.split_once(' ').map_or(out, |(word, _)| word) {
        "none" => Probe::NoJournalctl,
        "entries" => Probe::Entries,
        "empty" => Probe::Empty,
        _ => Probe::Failed(out.strip_prefix("failed ").unwrap_or(out).trim().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_as_short_iso_with_its_priority_and_cursor() {
        let line = r#"{"__CURSOR":"s=ab;i=1f;b=cd","__REALTIME_TIMESTAMP":"1796499010960954","_HOSTNAME":"vm","SYSLOG_IDENTIFIER":"sshd","_PID":"812","PRIORITY":"3","MESSAGE":"Failed password\nfor root"}"#;
        let e = parse(line).unwrap();
        assert_eq!(e.cursor, "s=ab;i=1f;b=cd");
        assert_eq!(e.seqnum, 0x1f);
        assert_eq!(e.priority, Some(3));
        assert_eq!(e.lines.len(), 2);
        assert!(e.lines[0].ends_with(" vm sshd[812]: Failed password"), "{:?}", e.lines[0]);
        assert!(e.lines[0].starts_with("2026-"), "{:?}", e.lines[0]);
        assert_eq!(e.lines[0].split(' ').next().unwrap().len(), "2026-12-05T19:30:00.123456Z".len());
        assert_eq!(e.lines[1], "for root");
    }

    #[test]
    fn a_message_of_bytes_is_read_lossily_and_garbage_is_an_error_naming_it() {
        let e = parse(r#"{"__CURSOR":"c","MESSAGE":[104,105,255]}"#).unwrap();
        assert!(e.lines[0].ends_with("- -: hi\u{fffd}"), "{:?}", e.lines[0]);
        assert_eq!(e.priority, None);
        let err = parse("Failed to add match 'x': Invalid argument").unwrap_err().to_string();
        assert!(err.contains("Failed to add match"), "{err}");
        assert!(matches!(parse(r#"{"MESSAGE":"x"}"#), Err(EntryError::NoCursor)));
    }

    #[test]
    fn the_command_resumes_after_a_cursor_or_starts_with_the_last_lines() {
        let j = JournalPath::parse("journal/ns1:ssh.service").unwrap().unwrap();
        let fresh = command(&j, None, 100);
        assert!(fresh.contains("'--lines=100'") && fresh.contains("'--unit=ssh.service'"), "{fresh}");
        assert!(fresh.contains("'--namespace=ns1'"), "{fresh}");
        let resumed = command(&j, Some("s=1;i=2"), 100);
        assert!(resumed.contains("'--after-cursor=s=1;i=2' '--lines=all'"), "{resumed}");
    }

    #[test]
    fn long_lines_are_cut_on_character_boundaries() {
        assert_eq!(pieces("ééé", 3), ["é", "é", "é"]);
        assert_eq!(pieces("", 3), [""]);
        assert_eq!(pieces("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(pieces("é", 1), ["é"]);
    }
}
