//! [`ShellSource`]: a target's directory read through the tail's [`Connection`] — over SSH,
//! exec channels streaming at the channel's rate, or a local shell. The listing is one `find`
//! (not following symlinks); a range is `tail -c +N | head -c LEN`, which GNU coreutils and
//! busybox both have.
//!
//! Every exec starts the remote user's shell, and a shell's startup files can take a tenth of
//! a second (a `pyenv init` or `conda` hook in `.bashrc`, which bash reads for SSH commands),
//! so the reads a sync announces ([`Source::expect`]) are fetched many per exec: up to
//! [`BATCH_BYTES`] and [`BATCH_FILES`] ranges, each framed by its length and a token the batch
//! ends every range with. A read nobody announced, or a batch whose framing does not hold (a
//! file cut short between the two passes), is one exec of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tailrace_schemas::Timestamp;

use super::source::{Filter, Listed, Source, SourceError, Want};
use crate::tail::transport::{shell_quote, Connection, ShellStream};

/// Bytes one batched exec fetches at most.
const BATCH_BYTES: u64 = 16 << 20;
/// Ranges one batched exec fetches at most (they are its arguments).
const BATCH_FILES: usize = 512;
/// Argument bytes one batched exec carries at most.
const BATCH_ARGS: usize = 96 * 1024;

/// For each `path offset len` triple after the token (offset counted from 1, as `tail -c +N`):
/// the range's length (from the file's size: `wc -c` of a regular file reads no data), a
/// newline, the bytes, a newline, the token, a newline; `E` for a file it cannot read. A file
/// cut shorter between the two breaks the frame, which the reader notices. One line, so the
/// session below can take it as one request.
const BATCH_SH: &str = concat!(
    r#"t=$1; shift; while [ $# -ge 3 ]; do "#,
    r#"if [ -f "$1" ] && [ -r "$1" ]; then "#,
    r#"s=$(wc -c < "$1"); n=$((s - $2 + 1)); [ "$n" -gt "$3" ] && n=$3; [ "$n" -lt 0 ] && n=0; "#,
    r#"printf '%s\n' "$n"; "#,
    r#"if [ "$n" -gt 0 ]; then if [ "$2" -eq 1 ]; then head -c "$n" -- "$1"; "#,
    r#"else tail -c +"$2" -- "$1" | head -c "$n"; fi; fi; "#,
    r#"else printf 'E\n'; fi; printf '\n%s\n' "$t"; shift 3; done"#,
);

/// [`BATCH_SH`] in one perl process: the same answer without two or three processes per range
/// (on a tree of many small files those starts were most of a sync). Used where perl is found.
const BATCH_PL: &str = concat!(
    r#"my $t = shift; $| = 0; binmode STDOUT; while (@ARGV >= 3) { my ($f, $o, $l) = splice(@ARGV, 0, 3); "#,
    r#"my $h; if (-f $f && open($h, "<:raw", $f)) { seek($h, $o - 1, 0); my $b = ""; my $n = 0; "#,
    r#"while ($n < $l) { my $r = read($h, $b, $l - $n, $n); last if !$r; $n += $r; } "#,
    r#"close($h); print length($b), "\n", $b; } else { print "E\n"; } print "\n$t\n"; }"#,
);

/// Prints `path \0 size \0 mtime \0 inode \0` per regular file under the root (relative paths).
const LIST_SH: &str = r#"cd -- "$1" || exit 2; find . -type f -printf '%P\0%s\0%T@\0%i\0'"#;

/// The session: one shell on the host that runs each line it is sent (input from /dev/null)
/// and ends each answer with a newline, its token (`$0`) and the exit status.
const SESSION_SH: &str =
    r#"while IFS= read -r l; do eval "$l" </dev/null; printf '\n%s %s\n' "$0" "$?"; done"#;

/// One shell on the host for the whole sync (see the module documentation).
struct Session {
    stream: ShellStream,
    token: String,
    buf: Vec<u8>,
}

impl Session {
    /// Runs one line; its output and exit status.
    async fn call(&mut self, line: &str) -> Result<(Vec<u8>, u32), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let io = |e: std::io::Error| format!("the shell session: {e}");
        self.stream.input.write_all(format!("{line}\n").as_bytes()).await.map_err(io)?;
        self.stream.input.flush().await.map_err(io)?;
        let marker = format!("\n{} ", self.token);
        let mut scanned = 0usize;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let from = scanned.saturating_sub(marker.len());
            if let Some(at) = find(&self.buf[from..], marker.as_bytes()).map(|i| from + i) {
                let rest = &self.buf[at + marker.len()..];
                if let Some(nl) = rest.iter().position(|b| *b == b'\n') {
                    let status = std::str::from_utf8(&rest[..nl]).ok().and_then(|s| s.trim().parse().ok());
                    let status = status.ok_or_else(|| "the shell session answered out of step".to_owned())?;
                    let after = at + marker.len() + nl + 1;
                    let mut out: Vec<u8> = self.buf.drain(..after).collect();
                    out.truncate(at);
                    return Ok((out, status));
                }
            }
            scanned = self.buf.len();
            let n = self.stream.output.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Err("the shell session ended (the link or the host closed it)".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub struct ShellSource {
    connection: Connection,
    root: String,
    filter: Filter,
    /// Reads announced and not fetched yet, in order.
    expected: Mutex<VecDeque<Want>>,
    /// Ranges fetched by a batch and not read yet.
    fetched: Mutex<HashMap<(String, u64, u64), Vec<u8>>>,
    /// Bytes one batch fetches at most.
    burst: std::sync::atomic::AtomicU64,
    /// Commands run so far.
    execs: std::sync::atomic::AtomicU64,
    /// The shell that runs this source's commands, once started (a new one after a failure).
    session: tokio::sync::Mutex<Option<Session>>,
    /// Whether the host has perl (asked once).
    perl: tokio::sync::OnceCell<bool>,
}

impl std::fmt::Debug for ShellSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellSource").field("root", &self.root).finish_non_exhaustive()
    }
}

impl ShellSource {
    pub fn new(connection: Connection, root: impl Into<String>, filter: Filter) -> Self {
        Self {
            connection,
            root: root.into(),
            filter,
            expected: Mutex::default(),
            fetched: Mutex::default(),
            burst: BATCH_BYTES.into(),
            execs: 0.into(),
            session: tokio::sync::Mutex::new(None),
            perl: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether the host runs commands: an SFTP-only host runs its forced `internal-sftp`
    /// whatever it is asked, which answers no shell request (it hangs up, or says nothing
    /// within 10 s). The session the probe starts is the one the sync goes on with.
    pub async fn has_shell(&self) -> bool {
        const PROBE: &str = "tailrace-shell-ok";
        let command = format!("echo {PROBE}");
        let probe = self.run(&command);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(10), probe).await,
            Ok(Ok((out, 0))) if out.trim_ascii() == PROBE.as_bytes()
        )
    }

    /// The connection back (after a probe found no shell).
    pub fn into_connection(self) -> Connection {
        self.connection
    }

    /// Never uses perl, as on a host without it.
    pub fn without_perl(self) -> Self {
        let _ = self.perl.set(false);
        self
    }

    /// Commands run on the host so far (each starts the user's shell there).
    pub fn execs(&self) -> u64 {
        self.execs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `command` in the session (started on first use), or in an exec of its own when it
    /// is more than one line (a path with a newline).
    async fn run(&self, command: &str) -> Result<(Vec<u8>, u32), String> {
        if command.contains('\n') {
            self.execs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return self.connection.run(command).await;
        }
        let started = std::time::Instant::now();
        let mut session = self.session.lock().await;
        if session.is_none() {
            self.execs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let token = format!("tailrace-session-{}", token()?);
            let stream = self
                .connection
                .open_shell(&format!("sh -c {} {token}", shell_quote(SESSION_SH)))
                .await
                .map_err(|e| format!("cannot start a shell session: {e}"))?;
            *session = Some(Session { stream, token, buf: Vec::new() });
            tracing::debug!(elapsed = ?started.elapsed(), "shell session opened");
        }
        let answer = session.as_mut().expect("started").call(command).await;
        tracing::debug!(
            command = command.split(' ').next().unwrap_or_default(),
            bytes = answer.as_ref().map_or(0, |(out, _)| out.len()),
            elapsed = ?started.elapsed(),
            "shell call answered"
        );
        if answer.is_err() {
            *session = None; // broken: the next command starts another
        }
        answer
    }

    fn full(&self, path: &str) -> String {
        format!("{}/{path}", self.root.trim_end_matches('/'))
    }

    /// The announced reads from `want` on, as many as one batch takes; `None` if `want` was not
    /// announced (those before it were skipped: the sync changed its mind about them).
    fn next_batch(&self, want: &Want) -> Option<Vec<Want>> {
        let mut expected = self.expected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = expected.iter().position(|w| w == want)?;
        expected.drain(..at);
        let limit = self.burst.load(std::sync::atomic::Ordering::Relaxed);
        let (mut bytes, mut args) = (0u64, 0usize);
        let mut batch = Vec::new();
        while let Some(w) = expected.front() {
            let arg = w.path.len() + self.root.len() + 48;
            if !batch.is_empty()
                && (bytes + w.len > limit || batch.len() >= BATCH_FILES || args + arg > BATCH_ARGS)
            {
                break;
            }
            bytes += w.len;
            args += arg;
            batch.extend(expected.pop_front());
        }
        Some(batch)
    }

    /// Fetches `batch` in one exec; the ranges whose framing held are kept for [`Source::read`].
    async fn fetch(&self, batch: &[Want]) -> Result<(), SourceError> {
        let token = format!(
            "tailrace-{}",
            token().map_err(|reason| SourceError::Read { path: batch[0].path.clone(), reason })?
        );
        let perl = *self
            .perl
            .get_or_init(|| async { matches!(self.run("command -v perl >/dev/null 2>&1").await, Ok((_, 0))) })
            .await;
        let mut command = if perl {
            format!("perl -e {} {token}", shell_quote(BATCH_PL))
        } else {
            format!("sh -c {} batch {token}", shell_quote(BATCH_SH))
        };
        for w in batch {
            command.push_str(&format!(" {} {} {}", shell_quote(&self.full(&w.path)), w.offset + 1, w.len));
        }
        let first = &batch[0].path;
        let (out, _) =
            self.run(&command).await.map_err(|reason| SourceError::Read { path: first.clone(), reason })?;
        let ranges = parse_batch(&out, &token, batch.len());
        let mut fetched = self.fetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (w, bytes) in batch.iter().zip(ranges) {
            if let Some(bytes) = bytes {
                fetched.insert((w.path.clone(), w.offset, w.len), bytes);
            }
        }
        Ok(())
    }

    /// One range in an exec of its own.
    async fn read_one(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let file = shell_quote(&self.full(path));
        // The pipeline's status is head's: a file that is gone must fail on its own.
        let command = format!(
            "[ -f {file} ] && [ -r {file} ] || exit 66; tail -c +{} -- {file} | head -c {len}",
            offset + 1
        );
        let (out, code) =
            self.run(&command).await.map_err(|reason| SourceError::Read { path: path.to_owned(), reason })?;
        // Anything but a clean exit (a cut link ends the channel without one) may be short.
        if code != 0 {
            return Err(SourceError::Read { path: path.to_owned(), reason: format!("exit status {code}") });
        }
        Ok(out)
    }
}

/// A token no log line is likely to hold (it only has to differ from what follows a range).
fn token() -> Result<String, String> {
    tailrace_nats::random_hex(8).map_err(|e| format!("no random token: {e}"))
}

/// The ranges of a batch's output, in order: `Some(bytes)` where the framing held, `None` for a
/// file that could not be read and for everything after a range whose framing broke.
fn parse_batch(out: &[u8], token: &str, n: usize) -> Vec<Option<Vec<u8>>> {
    let mut ranges = Vec::with_capacity(n);
    let mut at = 0usize;
    let end_of = format!("\n{token}\n");
    while ranges.len() < n {
        let Some(nl) = out[at..].iter().position(|b| *b == b'\n') else { break };
        let header = &out[at..at + nl];
        at += nl + 1;
        let bytes = if header == b"E" {
            None
        } else {
            let Some(len) = std::str::from_utf8(header).ok().and_then(|h| h.parse::<usize>().ok()) else {
                break;
            };
            if out.len() < at + len {
                break;
            }
            let bytes = out[at..at + len].to_vec();
            at += len;
            Some(bytes)
        };
        if !out[at..].starts_with(end_of.as_bytes()) {
            break;
        }
        at += end_of.len();
        ranges.push(bytes);
    }
    ranges.resize(n, None);
    ranges
}

/// The listing `find` printed.
fn parse_listing(out: &[u8], filter: &Filter) -> Result<Vec<Listed>, String> {
    let fields: Vec<&[u8]> = out.split(|b| *b == 0).collect();
    let mut files = Vec::new();
    // Four fields per file, and an empty one after the last terminator.
    for f in fields.chunks(4).filter(|c| c.len() == 4) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let path = text(f[0]);
        let size = text(f[1]).parse::<u64>().map_err(|e| format!("size of {path}: {e}"))?;
        let mtime = nanos(&text(f[2])).ok_or_else(|| format!("mtime of {path}: {:?}", text(f[2])))?;
        let inode = text(f[3]).parse::<u64>().map_err(|e| format!("inode of {path}: {e}"))?;
        if filter.takes(&path) {
            files.push(Listed { path, size, modified: Timestamp::from_nanos(mtime), inode });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `find`'s `%T@` (seconds with a fraction of up to nine digits or more) as nanoseconds, exactly.
fn nanos(t: &str) -> Option<i64> {
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    secs.parse::<i64>().ok()?.checked_mul(1_000_000_000)?.checked_add(digits.parse::<i64>().ok()?)
}

impl Source for ShellSource {
    async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let err = |reason: String| SourceError::List { root: self.root.clone(), reason };
        let command = format!("sh -c {} list {}", shell_quote(LIST_SH), shell_quote(&self.root));
        let (out, code) = self.run(&command).await.map_err(err)?;
        if code == 2 {
            return Err(err("no such directory, or not readable".into()));
        }
        parse_listing(&out, &self.filter).map_err(err)
    }

    fn expect(&self, wants: Vec<Want>, burst: u64) {
        self.burst.store(burst.min(BATCH_BYTES), std::sync::atomic::Ordering::Relaxed);
        *self.expected.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = wants.into();
        self.fetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    async fn read(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let key = (path.to_owned(), offset, len);
        let take = || self.fetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
        if let Some(bytes) = take() {
            return Ok(bytes);
        }
        let want = Want { path: path.to_owned(), offset, len };
        if let Some(batch) = self.next_batch(&want) {
            self.fetch(&batch).await?;
            if let Some(bytes) = take() {
                return Ok(bytes);
            }
        }
        self.read_one(path, offset, len).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn announced_reads_come_in_one_batch_with_perl_and_without() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, Vec<u8>)> = (0..50)
            .map(|i| (format!("d/f {i}.log"), format!("line {i}\n").repeat(i + 1).into_bytes()))
            .chain([("bin.dat".to_owned(), (0..=255u8).cycle().take(70_000).collect())])
            .collect();
        for (path, body) in &files {
            std::fs::create_dir_all(dir.path().join(path).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(path), body).unwrap();
        }
        for perl in [true, false] {
            let mut source = ShellSource::new(
                Connection::Local,
                dir.path().display().to_string(),
                Filter::new(&[], &[]).unwrap(),
            );
            if !perl {
                source = source.without_perl();
            }
            let wants: Vec<Want> = files
                .iter()
                .map(|(p, b)| Want { path: p.clone(), offset: 3, len: b.len() as u64 })
                .chain([Want { path: "missing.log".into(), offset: 0, len: 10 }])
                .collect();
            source.expect(wants, u64::MAX);
            for (path, body) in &files {
                let got = source.read(path, 3, body.len() as u64).await.unwrap();
                assert_eq!(got, body[3..], "{path} (perl: {perl})");
            }
            assert!(source.read("missing.log", 0, 10).await.is_err(), "perl: {perl}");
            // One session; with perl, one more request in it asked whether perl is there.
            assert_eq!(source.execs(), 1, "perl: {perl}");
        }
    }

    #[test]
    fn a_batch_is_split_by_its_framing_and_a_broken_frame_ends_it() {
        let t = "tailrace-1";
        let out = b"3\nabc\ntailrace-1\nE\n\ntailrace-1\n0\n\ntailrace-1\n2\nxy\ntailrace-1\n";
        assert_eq!(
            parse_batch(out, t, 4),
            vec![Some(b"abc".to_vec()), None, Some(Vec::new()), Some(b"xy".to_vec())]
        );
        // A range cut short after it was counted: the frame breaks, the rest is not trusted.
        let cut = b"3\nabc\ntailrace-1\n5\nab\ntailrace-1\n2\nxy\ntailrace-1\n";
        assert_eq!(parse_batch(cut, t, 3), vec![Some(b"abc".to_vec()), None, None]);
        assert_eq!(parse_batch(b"", t, 2), vec![None, None]);
    }

    #[test]
    fn a_listing_is_read_and_filtered() {
        let out = b"a.log\x0012\x001700000000.5\x0042\x00sub/b.tmp\x003\x001700000001.0\x0043\x00";
        let all = parse_listing(out, &Filter::new(&[], &[]).unwrap()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            Listed {
                path: "a.log".into(),
                size: 12,
                modified: Timestamp::from_nanos(1_700_000_000_500_000_000),
                inode: 42
            }
        );
        let some = parse_listing(out, &Filter::new(&[], &["*.tmp".into()]).unwrap()).unwrap();
        assert_eq!(some.len(), 1);
        assert!(parse_listing(b"a\x00x\x001\x001\x00", &Filter::new(&[], &[]).unwrap()).is_err());
        assert_eq!(nanos("1700000000.1234567891"), Some(1_700_000_000_123_456_789));
        assert_eq!(nanos("5"), Some(5_000_000_000));
        assert_eq!(nanos("x.1"), None);
    }
}
