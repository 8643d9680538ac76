//! May a path be tailed? Answered on the host itself, after resolving its symlinks there: a
//! link under `/var/log` pointing at `/etc/shadow` is refused, and so is a directory.
//!
//! One small script resolves paths with `readlink -f` (GNU coreutils and busybox both have it)
//! and says what each one is; [`check`] applies the host's [`Roots`] to the result. The
//! follower checks again each time it opens a file (a rotation can put a symlink in place).

use tailrace_schemas::{JournalPath, Verdict};

use super::journal::Probe;

use super::roots::Roots;
use super::transport::{shell_quote, Connection};

/// Prints `type \t links \t resolved \0` per argument; type is file, unreadable, dir, other,
/// missing or unresolved (a parent directory is missing too); links is a file's hard-link count.
const RESOLVE_SH: &str = r#"for p in "$@"; do
  if r=$(readlink -f -- "$p" 2>/dev/null) && [ -n "$r" ]; then
    n=0
    if [ -d "$r" ]; then t=dir
    elif [ -f "$r" ]; then
      n=$(stat -c %h -- "$r" 2>/dev/null || echo 0)
      if [ -r "$r" ]; then t=file; else t=unreadable; fi
    elif [ -e "$r" ]; then t=other
    else t=missing; fi
    printf '%s\t%s\t%s\0' "$t" "$n" "$r"
  else
    printf 'unresolved\t0\t\0'
  fi
done
"#;

/// What a path is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    File,
    Unreadable,
    Dir,
    /// A device, socket or fifo.
    Other,
    Missing,
    /// Not even its directory exists.
    Unresolved,
}

/// A path as the host resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub kind: PathKind,
    /// The path with every symlink resolved (`None` when unresolved).
    pub path: Option<String>,
    /// Hard links of a file (0 when not a file).
    pub links: u64,
}

/// Resolves `paths` on the host of `conn`, in order.
pub async fn resolve(conn: &Connection, paths: &[&str]) -> Result<Vec<Resolved>, String> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut command = format!("bash -c {} tailrace-resolve", shell_quote(RESOLVE_SH));
    for p in paths {
        command.push(' ');
        command.push_str(&shell_quote(p));
    }
    let (out, code) = conn.run(&command).await?;
    if code != 0 {
        return Err(format!(
            "resolving paths failed (exit {code}): {}",
            String::from_utf8_lossy(&out).trim()
        ));
    }
    let records: Vec<Resolved> = out
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let r = String::from_utf8_lossy(r);
            let mut fields = r.splitn(3, '\t');
            let (kind, links, path) = (fields.next()?, fields.next()?, fields.next()?);
            let kind = match kind {
                "file" => PathKind::File,
                "unreadable" => PathKind::Unreadable,
                "dir" => PathKind::Dir,
                "other" => PathKind::Other,
                "missing" => PathKind::Missing,
                _ => PathKind::Unresolved,
            };
            Some(Resolved {
                kind,
                path: (!path.is_empty()).then(|| path.to_owned()),
                links: links.trim().parse().unwrap_or(0),
            })
        })
        .collect();
    if records.len() != paths.len() {
        return Err(format!("resolving {} paths gave {} answers", paths.len(), records.len()));
    }
    Ok(records)
}

/// Resolves `paths` and the host's `roots` in one round trip. The roots come back as given
/// and as resolved (a root that is itself a symlink, `/var/log` → `/data/log`, still admits
/// what lies under its target).
pub async fn resolve_with_roots(
    conn: &Connection,
    paths: &[&str],
    roots: &Roots,
) -> Result<(Vec<Resolved>, Roots), String> {
    let given: Vec<&str> = roots.as_slice().iter().map(String::as_str).collect();
    let mut all = resolve(conn, &[paths, &given].concat()).await?;
    let resolved_roots = all.split_off(paths.len());
    let roots = Roots::new(
        given.iter().map(|s| (*s).to_owned()).chain(resolved_roots.into_iter().filter_map(|r| r.path)),
    )
    .with_journals_of(roots);
    Ok((all, roots))
}

/// The verdict on tailing `path`, the resolved path, and the resolved roots the follower
/// checks each file it opens against.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    pub reason: String,
    pub resolved: Option<String>,
    pub roots: Roots,
}

/// Checks `path` against `roots` on the host of `conn`. `Err` when the host could not be
/// asked.
pub async fn check(conn: &Connection, path: &str, roots: &Roots) -> Result<Checked, String> {
    match JournalPath::parse(path) {
        Ok(Some(journal)) => return check_journal(conn, &journal, roots).await,
        Ok(None) => {}
        Err(e) => {
            return Ok(Checked {
                verdict: Verdict::NotAFile,
                reason: e.to_string(),
                resolved: None,
                roots: roots.clone(),
            })
        }
    }
    // /proc, /sys and /dev are refused as written, before anything on the host looks at them
    // (resolving /proc/self on the host would name the checker's own process).
    if let Err(e) = Roots::never(&lexical(path)) {
        return Ok(Checked {
            verdict: Verdict::Outside,
            reason: e.to_string(),
            resolved: None,
            roots: roots.clone(),
        });
    }
    let (mut targets, roots) = resolve_with_roots(conn, &[path], roots).await?;
    let target = targets.remove(0);
    let (verdict, reason) = match (&target.path, target.kind) {
        (_, PathKind::Dir) => {
            (Verdict::NotAFile, format!("{path} is a directory, not a file; pick a file in it"))
        }
        (_, PathKind::Other) => {
            (Verdict::NotAFile, format!("{path} is not a regular file (a device, socket or fifo)"))
        }
        // Its directory does not exist: judge the path as written (the follower judges the
        // file it finally opens).
        (None, _) => match roots.permits(path) {
            Ok(()) => (Verdict::Waiting, format!("{path} does not exist; the tail waits for it")),
            Err(e) => (Verdict::Outside, e.to_string()),
        },
        (Some(resolved), kind) => match roots.permits(resolved) {
            Err(e) => (Verdict::Outside, e.to_string()),
            // Another name of the same file may lie outside the roots (`ln /etc/shadow
            // /var/log/x`); a log file has one.
            Ok(()) if target.links > 1 => (
                Verdict::Outside,
                format!("{path} has {} hard links, so it may be a file outside the roots under another name; log files have one", target.links),
            ),
            Ok(()) if kind == PathKind::File => (Verdict::Allowed, String::new()),
            Ok(()) => {
                (Verdict::Waiting, format!("{path} is missing or unreadable now; the tail waits for it"))
            }
        },
    };
    Ok(Checked { verdict, reason, resolved: target.path, roots })
}

/// Checks a journal source against `roots`, then asks the host whether it has the journal.
async fn check_journal(conn: &Connection, journal: &JournalPath, roots: &Roots) -> Result<Checked, String> {
    let path = journal.to_string();
    let checked = |verdict, reason: String| Checked { verdict, reason, resolved: None, roots: roots.clone() };
    if let Err(e) = roots.permits_journal(journal) {
        return Ok(checked(Verdict::Outside, e.to_string()));
    }
    Ok(match super::journal::probe(conn, journal).await? {
        Probe::Entries => checked(Verdict::Allowed, String::new()),
        Probe::Empty => {
            checked(Verdict::Waiting, format!("{path} has no entries yet; the tail waits for them"))
        }
        Probe::NoJournalctl => checked(
            Verdict::NotAFile,
            format!("{path}: the host has no journalctl, so no systemd journal to follow"),
        ),
        Probe::Failed(why) => checked(Verdict::NotAFile, format!("{path}: journalctl refused it: {why}")),
    })
}

/// `path` with `.` and `..` components and repeated slashes folded, without asking the host.
pub(super) fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_fold_without_the_host() {
        assert_eq!(lexical("/var/log/../../proc/self/environ"), "/proc/self/environ");
        assert_eq!(lexical("//var/./log//x"), "/var/log/x");
        assert_eq!(lexical("/.."), "/");
    }
}
