//! [`ShellSource`]: a target's directory read through the tail's [`Connection`] — over SSH, one
//! exec channel per request, streaming at the channel's rate (russh-sftp's reads are not
//! pipelined), or a local shell. The listing is one `find` (not following symlinks); a range
//! is `tail -c +N | head -c LEN`, which GNU coreutils and busybox both have.

use tailrace_schemas::Timestamp;

use super::source::{Filter, Listed, Source, SourceError};
use crate::tail::transport::{shell_quote, Connection};

/// Prints `path \0 size \0 mtime \0 inode \0` per regular file under the root (relative paths).
const LIST_SH: &str = r#"cd -- "$1" || exit 2
find . -type f -printf '%P\0%s\0%T@\0%i\0'
"#;

pub struct ShellSource {
    connection: Connection,
    root: String,
    filter: Filter,
}

impl std::fmt::Debug for ShellSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellSource").field("root", &self.root).finish_non_exhaustive()
    }
}

impl ShellSource {
    pub fn new(connection: Connection, root: impl Into<String>, filter: Filter) -> Self {
        Self { connection, root: root.into(), filter }
    }
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
        let (out, code) = self.connection.run(&command).await.map_err(err)?;
        if code == 2 {
            return Err(err("no such directory, or not readable".into()));
        }
        parse_listing(&out, &self.filter).map_err(err)
    }

    async fn read(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let full = format!("{}/{path}", self.root.trim_end_matches('/'));
        let command = format!("tail -c +{} -- {} | head -c {len}", offset + 1, shell_quote(&full));
        let (out, code) = self
            .connection
            .run(&command)
            .await
            .map_err(|reason| SourceError::Read { path: path.to_owned(), reason })?;
        // Anything but a clean exit (a cut link ends the channel without one) may be short.
        if code != 0 {
            return Err(SourceError::Read { path: path.to_owned(), reason: format!("exit status {code}") });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
