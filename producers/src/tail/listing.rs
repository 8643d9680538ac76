//! Directory listings on a host (the seed's dynamic `taillist`): one `find` run over the host's
//! connection, parsed into [`DirEntry`]s. Only directories the host's [`Roots`] serve (or that
//! lead to one) are listed, judged after resolving symlinks on the host, and only entries that
//! are served or lead to a root are shown.

use tailrace_schemas::{DirEntry, DirListing, HostId, Timestamp};

use super::check::{resolve, resolve_with_roots, PathKind};
use super::roots::Roots;
use super::transport::{shell_quote, Transport};
pub use tailrace_schemas::dir_listing::NOT_SERVED;

/// Entries returned at most; a listing with more says `truncated`.
pub const MAX_ENTRIES: usize = 2000;

/// Prints `own type \t type \t size \t mtime \t name \0` per entry (the entry's own type, `l`
/// for a symlink, then its type after following symlinks), or a message and a non-zero exit
/// when the directory cannot be read.
const LIST_SH: &str = r#"dir=$1; max=$2
[ -e "$dir" ] || { printf 'no such directory: %s' "$dir"; exit 2; }
[ -d "$dir" ] || { printf 'not a directory: %s' "$dir"; exit 3; }
{ [ -r "$dir" ] && [ -x "$dir" ]; } || { printf 'permission denied: %s' "$dir"; exit 4; }
find "$dir" -mindepth 1 -maxdepth 1 -printf '%y\t%Y\t%s\t%T@\t%f\0' 2>/dev/null | head -z -n "$max"
"#;

/// Lists `dir` on the host reached by `transport`, within `roots`.
pub async fn list(host: &HostId, transport: &Transport, roots: &Roots, dir: &str) -> DirListing {
    let mut listing = DirListing {
        v: 1,
        host: host.clone(),
        dir: dir.to_owned(),
        entries: Vec::new(),
        truncated: false,
        error: None,
    };
    if !dir.starts_with('/') {
        listing.error = Some(format!("dir must be an absolute path, got {dir:?}"));
        return listing;
    }
    if let Err(e) = Roots::never(&super::check::lexical(dir)) {
        listing.error = Some(format!("{NOT_SERVED}{e}"));
        return listing;
    }
    let connection = match transport.connect().await {
        Ok(c) => c,
        Err(e) => {
            listing.error = Some(e.to_string());
            return listing;
        }
    };
    let (resolved, roots) = match resolve_with_roots(&connection, &[dir], roots).await {
        Ok((mut r, roots)) => (r.remove(0), roots),
        Err(e) => {
            listing.error = Some(format!("cannot list {dir}: {e}"));
            return listing;
        }
    };
    let real = match (resolved.kind, resolved.path) {
        (PathKind::Missing | PathKind::Unresolved, _) | (_, None) => {
            listing.error = Some(format!("no such directory: {dir}"));
            return listing;
        }
        (PathKind::Dir, Some(real)) => real,
        (_, Some(_)) => {
            listing.error = Some(format!("not a directory: {dir}"));
            return listing;
        }
    };
    if let Err(e) = roots.lists(&real) {
        listing.error = Some(format!("{NOT_SERVED}{e}"));
        return listing;
    }
    let command =
        format!("bash -c {} tailrace-list {} {}", shell_quote(LIST_SH), shell_quote(&real), MAX_ENTRIES + 1);
    match connection.run(&command).await {
        Ok((out, 0)) => {
            let (entries, truncated) = parse(dir, &out);
            let base = real.trim_end_matches('/');
            // A symlink is shown only if what it points at is served (or leads to a root).
            let links: Vec<String> =
                entries.iter().filter(|(_, link)| *link).map(|(e, _)| format!("{base}/{}", e.name)).collect();
            let link_refs: Vec<&str> = links.iter().map(String::as_str).collect();
            let targets = match resolve(&connection, &link_refs).await {
                Ok(t) => t,
                Err(e) => {
                    listing.error = Some(format!("cannot list {dir}: {e}"));
                    return listing;
                }
            };
            let mut targets = targets.into_iter();
            listing.entries = entries
                .into_iter()
                .filter_map(|(e, link)| {
                    let shown = if link {
                        targets.next()?.path.is_some_and(|t| roots.shows(&t, e.dir))
                    } else {
                        roots.shows(&format!("{base}/{}", e.name), e.dir)
                    };
                    shown.then_some(e)
                })
                .collect();
            listing.truncated = truncated;
        }
        Ok((out, code)) => {
            let message = String::from_utf8_lossy(&out).trim().to_owned();
            listing.error = Some(if message.is_empty() {
                format!("listing {dir} failed (exit {code})")
            } else {
                message
            });
        }
        Err(e) => listing.error = Some(format!("cannot list {dir}: {e}")),
    }
    listing
}

/// Parses the listing script's output, sorted by name, directories first; each entry says
/// whether it is a symlink.
fn parse(dir: &str, out: &[u8]) -> (Vec<(DirEntry, bool)>, bool) {
    let base = dir.trim_end_matches('/');
    let mut entries: Vec<(DirEntry, bool)> = out
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|record| {
            let record = String::from_utf8_lossy(record);
            let mut fields = record.splitn(5, '\t');
            let (own, kind, size, mtime, name) =
                (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
            let modified = mtime.parse::<f64>().ok().map(|secs| Timestamp::from_nanos((secs * 1e9) as i64));
            let entry = DirEntry {
                name: name.to_owned(),
                path: format!("{base}/{name}"),
                dir: kind == "d",
                size: size.parse().unwrap_or(0),
                modified,
            };
            Some((entry, own == "l"))
        })
        .collect();
    let truncated = entries.len() > MAX_ENTRIES;
    entries.truncate(MAX_ENTRIES);
    entries.sort_by(|(a, _), (b, _)| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    (entries, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_tabs_and_sorts_directories_first() {
        let out =
            b"f\tf\t12\t1700000000.5\tb.log\0d\td\t4096\t1700000000.0\tarchive\0l\tf\t0\t1.0\tweird\tname\0";
        let (entries, truncated) = parse("/var/log/", out);
        assert!(!truncated);
        let names: Vec<_> = entries.iter().map(|(e, _)| e.name.as_str()).collect();
        assert_eq!(names, ["archive", "b.log", "weird\tname"]);
        assert_eq!(entries[1].0.path, "/var/log/b.log");
        assert_eq!(entries[1].0.size, 12);
        assert!(entries[0].0.dir);
        assert!(entries[2].1 && !entries[1].1, "the symlink is marked");
    }
}
