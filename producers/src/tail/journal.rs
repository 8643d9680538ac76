//! Following a systemd journal: `journalctl --follow --output=json` run on the host (over
//! SSH, or locally), each entry one line (or several, for a message of several lines or a line
//! longer than the line limit) that carries the entry's priority.
//!
//! Resumption is exact: every batch stores the cursor of its last line's entry and, when the
//! batch ends inside that entry, how many of its lines it holds ([`JournalPoint`]). A tail
//! continues with `--after-cursor` after a whole entry, or with `--cursor` (the entry itself)
//! skipping the lines already stored; so a lost connection or a restarted producer neither
//! skips nor repeats a line.
//!
//! A line reads as `journalctl -o short-iso-precise` prints it (`2026-12-05T19:30:00.123456Z
//! host sshd[812]: message`), so the time, host and program are where readers of syslog files
//! look for them, and the processors group it like any syslog line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tailrace_schemas::{JournalPath, LogLine, TailStatusKind, Timestamp};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::run::{After, Followed, JournalPoint, Progress, Tail};
use super::transport::{shell_quote, Connection};

/// The longest entry read; a longer one (a core dump kept in the journal) is skipped whole.
const MAX_ENTRY_BYTES: usize = 16 << 20;

/// How long journalctl must have run for its end to count as a lost connection rather than a
/// failure to start (which backs off).
const SETTLED: Duration = Duration::from_secs(5);

/// Bits of a journal line's `offset` below the entry's sequence number: its index in the entry.
const INDEX_BITS: u32 = 20;

/// Runs journalctl in the background and ends it when the command's input closes (the SSH
/// channel or the local pipe going away), since a follower with nothing new to write would
/// otherwise never notice; its own end ends the command.
const WATCHED_SH: &str = r#"exec 3<&0
"$@" 2>&1 &
j=$!
( cat <&3 >/dev/null 2>&1; kill "$j" 2>/dev/null ) >/dev/null 2>&1 &
w=$!
wait "$j"
kill "$w" 2>/dev/null
"#;

/// The command that follows `journal` from `from` (or its last `last_lines` entries).
pub fn command(journal: &JournalPath, from: Option<&JournalPoint>, last_lines: u32) -> String {
    let mut args: Vec<String> = ["journalctl", "--follow", "--output=json", "--all", "--quiet", "--no-pager"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    match from {
        // `--follow` alone shows only the last 10 entries after the cursor.
        Some(JournalPoint { cursor, lines: None }) => {
            args.extend([format!("--after-cursor={cursor}"), "--lines=all".to_owned()])
        }
        Some(JournalPoint { cursor, lines: Some(_) }) => {
            args.extend([format!("--cursor={cursor}"), "--lines=all".to_owned()])
        }
        None => args.push(format!("--lines={last_lines}")),
    }
    args.extend(journal.journalctl_args());
    let mut command = format!("sh -c {} tailrace-journal", shell_quote(WATCHED_SH));
    for a in args {
        command.push(' ');
        command.push_str(&shell_quote(&a));
    }
    command
}

/// A field's text: the journal writes a field that is not valid UTF-8 as an array of bytes,
/// and a field an entry has several times as an array of its values (the first is taken).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => match items.first()? {
            Value::Number(_) => {
                let bytes: Vec<u8> = items.iter().filter_map(|b| b.as_u64().map(|b| b as u8)).collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            first => text(first),
        },
        _ => None,
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub cursor: String,
    /// The entry's sequence number (the cursor's `i=`).
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
    let mut priority = field("PRIORITY").and_then(|p| p.trim().parse::<u8>().ok()).filter(|p| *p <= 7);
    // A service's standard output gets the unit's default level (info) whatever it says: there
    // the line's own words tell its severity better.
    if field("_TRANSPORT").as_deref() == Some("stdout") && priority == Some(6) {
        priority = None;
    }
    let head = match pid {
        Some(pid) => format!("{time} {host} {program}[{pid}]: "),
        None => format!("{time} {host} {program}: "),
    };
    let message = message.strip_suffix('\n').unwrap_or(&message);
    let mut lines: Vec<String> = message.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect();
    lines[0].insert_str(0, &head);
    Ok(Entry { cursor, seqnum, priority, lines })
}

/// The next line of `reader` into `buf` (without its newline), at most `max` bytes kept: a
/// longer line is read to its end and reported as `Ok(Some(false))`. `Ok(None)` at the end.
async fn read_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut whole = true;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!buf.is_empty()).then_some(whole));
        }
        let (chunk, done) = match memchr(available) {
            Some(nl) => (&available[..nl], Some(nl + 1)),
            None => (available, None),
        };
        if whole && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            whole = false;
            buf.clear();
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(whole));
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Follows `journal` on `conn` from `progress.journal` until the connection is lost or `cancel`.
pub(super) async fn follow(
    t: &mut Tail<'_>,
    conn: &Connection,
    journal: &JournalPath,
    progress: &mut Progress,
    cancel: &CancellationToken,
) -> Followed {
    let spec = t.spec;
    let command = command(journal, progress.journal.as_ref(), t.cfg.last_lines);
    let shell = match conn.open_shell(&command).await {
        Ok(o) => o,
        Err(e) => return t.lost(format!("cannot run journalctl for {}: {e}", spec.path), None).await,
    };
    // Held open for as long as the follower should run: its end ends journalctl.
    let _input = shell.input;
    let (kind, message) = match &progress.journal {
        Some(_) => {
            (TailStatusKind::Resumed, format!("following {} again after its last stored line", spec.path))
        }
        None => (TailStatusKind::Started, format!("following {}", spec.path)),
    };
    progress.lost = false;
    t.report(kind, message, None).await;
    let started = Instant::now();
    // Lines of the entry `--cursor` starts at that are stored already.
    let mut skip = progress.journal.as_ref().and_then(|p| p.lines.map(|n| (p.cursor.clone(), n)));
    let mut reader = BufReader::with_capacity(256 * 1024, shell.output);
    let mut buf = Vec::new();
    let max = t.cfg.max_line_bytes.max(1);
    let mut complaint: Option<String> = None;
    loop {
        // Entries already buffered are taken without waiting; when none is, what was taken is
        // published before waiting for more (as a file's chunk is).
        if reader.buffer().is_empty() {
            t.flush().await;
        }
        let read = tokio::select! {
            _ = cancel.cancelled() => return Followed::Cancelled,
            r = read_capped(&mut reader, &mut buf, MAX_ENTRY_BYTES) => r,
        };
        let whole = match read {
            Ok(Some(whole)) => whole,
            Ok(None) | Err(_) => {
                let reason = match (read, complaint) {
                    (Err(e), _) => e.to_string(),
                    (_, Some(said)) => format!("journalctl ended: {said}"),
                    _ => "journalctl ended".to_owned(),
                };
                // Ended at once: a failure to start, backed off; after a while: a lost link.
                if started.elapsed() >= SETTLED {
                    progress.failures = 0;
                }
                return t.lost(format!("lost {}: {reason}; reconnecting", spec.path), None).await;
            }
        };
        if !whole {
            tracing::warn!(path = %spec.path, "a journal entry over {MAX_ENTRY_BYTES} bytes skipped");
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let entry = match parse(line.trim_end()) {
            Ok(e) => e,
            Err(e) => {
                // journalctl's own complaint: kept to say why it ended, if it does.
                tracing::warn!(path = %spec.path, error = %e, "journalctl output skipped");
                complaint = Some(line.trim().chars().take(300).collect());
                continue;
            }
        };
        progress.failures = 0;
        let cursor: Arc<str> = Arc::from(entry.cursor.as_str());
        let pieces: Vec<&str> = entry.lines.iter().flat_map(|l| pieces(l, max)).collect();
        let n = pieces.len() as u32;
        let already = match skip.take() {
            Some((at, k)) if at == cursor => k.min(n),
            _ => 0,
        };
        for (i, piece) in pieces.into_iter().enumerate().skip(already as usize) {
            let i = i as u32;
            let after = JournalPoint { cursor: cursor.clone(), lines: (i + 1 < n).then_some(i + 1) };
            let offset = (entry.seqnum << INDEX_BITS) | u64::from(i.min((1 << INDEX_BITS) - 1));
            let line = LogLine { offset, text: piece.to_owned(), lossy: false, priority: entry.priority };
            t.push((line, After::Journal(after.clone()))).await;
            progress.journal = Some(after);
        }
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

/// Prints `none`, `entries`, `empty`, or `failed` and journalctl's complaint. Warnings
/// journalctl prints while it reads (a corrupt file among good ones) do not count.
const PROBE_SH: &str = r#"command -v journalctl >/dev/null 2>&1 || { echo none; exit 0; }
if out=$(journalctl --quiet --no-pager --lines=1 --output=json "$@" 2>/dev/null); then
  case "$out" in '{'*) echo entries ;; *) echo empty ;; esac
else
  printf 'failed %s' "$(journalctl --quiet --no-pager --lines=1 --output=json "$@" 2>&1 >/dev/null | head -c 300)"
fi
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
    fn the_command_resumes_after_an_entry_or_inside_one_or_starts_with_the_last_lines() {
        let j = JournalPath::parse("journal/ns1:ssh.service").unwrap().unwrap();
        let fresh = command(&j, None, 100);
        assert!(fresh.contains("'--lines=100'") && fresh.contains("'--unit=ssh.service'"), "{fresh}");
        assert!(fresh.contains("'--namespace=ns1'"), "{fresh}");
        let point = |lines| JournalPoint { cursor: Arc::from("s=1;i=2"), lines };
        let after = command(&j, Some(&point(None)), 100);
        assert!(after.contains("'--after-cursor=s=1;i=2' '--lines=all'"), "{after}");
        let inside = command(&j, Some(&point(Some(3))), 100);
        assert!(inside.contains("'--cursor=s=1;i=2' '--lines=all'"), "{inside}");
    }

    #[test]
    fn a_field_given_twice_reads_as_its_first_value_and_stdout_info_as_no_priority() {
        let e =
            parse(r#"{"__CURSOR":"c","MESSAGE":["first","second"],"PRIORITY":"6","_TRANSPORT":"stdout"}"#)
                .unwrap();
        assert!(e.lines[0].ends_with(": first"), "{:?}", e.lines[0]);
        assert_eq!(e.priority, None, "a service's stdout says info whatever it writes");
        let e = parse(r#"{"__CURSOR":"c","MESSAGE":"x","PRIORITY":"3","_TRANSPORT":"stdout"}"#).unwrap();
        assert_eq!(e.priority, Some(3), "a level the service gave (`<3>` on stdout) is kept");
    }

    #[tokio::test]
    async fn an_entry_longer_than_the_limit_is_skipped_whole() {
        let input: &[u8] = b"short\nthis one is far too long\nnext\nlast";
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(whole) = read_capped(&mut r, &mut buf, 10).await.unwrap() {
            out.push((String::from_utf8_lossy(&buf).into_owned(), whole));
        }
        assert_eq!(
            out,
            [
                ("short".to_owned(), true),
                (String::new(), false),
                ("next".to_owned(), true),
                ("last".to_owned(), true)
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_on_character_boundaries() {
        assert_eq!(pieces("ééé", 3), ["é", "é", "é"]);
        assert_eq!(pieces("", 3), [""]);
        assert_eq!(pieces("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(pieces("é", 1), ["é"]);
    }
}
