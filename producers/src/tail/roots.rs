//! [`Roots`]: what a host may serve for live tail and listings.
//!
//! Each host has allowed roots (`allow = [...]` in its `[[tail.hosts]]` entry, `local_allow` in
//! `[tail]` for `local`); by default the catalog's files for the host's type and `/var/log`. A
//! path is served when, *after resolving symlinks on the host*, it is a root or lies under one;
//! `/proc`, `/sys` and `/dev` never are, whatever the roots say (`/proc/self/environ` holds
//! secrets, and tailing a device never ends). Roots are compared as whole path components, so
//! `/var/log` does not admit `/var/logs-private`.
//!
//! A root may also be a journal ([`JournalPath`]): `journal:` admits every journal source of
//! the host's default journal, `journal/NAMESPACE:` those of a namespace, and a whole journal
//! source path (`journal:ssh.service`) only itself. The default admits `journal:`: it holds what
//! `/var/log` holds on hosts that log only to the journal.

use tailrace_schemas::{Catalog, JournalPath};

/// Trees that are never served.
const NEVER: &[&str] = &["/proc", "/sys", "/dev"];

/// The allowed roots of one host (absolute paths, no trailing slash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    roots: Vec<String>,
    /// Journal roots (`journal:`, `journal/ns:`, or whole journal source paths).
    journals: Vec<String>,
}

/// Why a resolved path is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Outside {
    #[error("{path} is under {tree}, which is never served")]
    Never { path: String, tree: &'static str },
    #[error("{path} is outside the roots this host serves ({roots}); an operator can allow more with `allow` (or `local_allow` for local) in the [tail] config")]
    Roots { path: String, roots: String },
    #[error("{path} is not a journal this host serves ({roots}); an operator can allow it with `allow` (or `local_allow` for local) in the [tail] config, e.g. \"journal:\"")]
    Journal { path: String, roots: String },
}

impl Roots {
    /// `configured` if given, else the catalog's files for `kind` and `/var/log`.
    pub fn for_host(configured: &[String], catalog: &Catalog, kind: &str) -> Self {
        if !configured.is_empty() {
            return Self::new(configured.iter().cloned());
        }
        Self::new(
            catalog
                .files(kind)
                .iter()
                .map(|f| f.path.clone())
                .chain(["/var/log".to_owned(), "journal:".to_owned()]),
        )
    }

    pub fn new(roots: impl IntoIterator<Item = String>) -> Self {
        let (mut journals, roots): (Vec<String>, Vec<String>) =
            roots.into_iter().partition(|r| tailrace_schemas::journal::is_journal(r));
        let mut roots: Vec<String> = roots
            .into_iter()
            .filter(|r| r.starts_with('/'))
            .map(|r| if r == "/" { r } else { r.trim_end_matches('/').to_owned() })
            .collect();
        roots.sort();
        roots.dedup();
        journals.sort();
        journals.dedup();
        Self { roots, journals }
    }

    /// The file roots (absolute paths).
    pub fn as_slice(&self) -> &[String] {
        &self.roots
    }

    /// These file roots with `other`'s journal roots.
    pub fn with_journals_of(mut self, other: &Roots) -> Self {
        self.journals = other.journals.clone();
        self
    }

    /// Whether the journal source `journal` may be served.
    pub fn permits_journal(&self, journal: &JournalPath) -> Result<(), Outside> {
        let path = journal.to_string();
        let root = journal.root();
        if self.journals.iter().any(|r| *r == root || *r == path) {
            return Ok(());
        }
        Err(Outside::Journal { path, roots: self.journals.join(", ") })
    }

    /// Whether `path` lies under a tree that is never served (/proc, /sys, /dev).
    pub fn never(path: &str) -> Result<(), Outside> {
        match NEVER.iter().find(|t| within(path, t)) {
            Some(tree) => Err(Outside::Never { path: path.to_owned(), tree }),
            None => Ok(()),
        }
    }

    /// Whether the resolved absolute `path` may be served.
    pub fn permits(&self, path: &str) -> Result<(), Outside> {
        Self::never(path)?;
        if self.roots.iter().any(|r| within(path, r)) {
            return Ok(());
        }
        Err(Outside::Roots { path: path.to_owned(), roots: self.roots.join(", ") })
    }

    /// Whether the resolved directory `dir` may be listed: it is served, or a root lies in it
    /// (so a user can walk down to the roots).
    pub fn lists(&self, dir: &str) -> Result<(), Outside> {
        match self.permits(dir) {
            Err(Outside::Roots { .. }) if self.roots.iter().any(|r| within(r, dir)) => Ok(()),
            other => other,
        }
    }

    /// Whether an entry of a listing is worth showing: served itself, or on the way to a root.
    pub fn shows(&self, path: &str, is_dir: bool) -> bool {
        self.permits(path).is_ok() || (is_dir && self.lists(path).is_ok())
    }
}

/// Whether `path` is `root` or below it, comparing whole components.
fn within(path: &str, root: &str) -> bool {
    root == "/" || path == root || path.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_catalog_and_var_log() {
        let r = Roots::for_host(&[], &Catalog::default(), "cvm");
        assert!(r.permits("/home/nutanix/data/logs/genesis.out").is_ok());
        assert!(r.permits("/var/log/messages").is_ok());
        assert!(r.permits("/var/log/nginx/access.log").is_ok());
        assert!(r.permits("/home/nutanix/data/logs/secret.conf").is_err());
        assert!(r.permits("/etc/shadow").is_err());
        assert!(r.permits("/var/logs-private/x").is_err(), "whole components only");
        let journal = |p: &str| JournalPath::parse(p).unwrap().unwrap();
        assert!(r.permits_journal(&journal("journal:ssh.service")).is_ok());
        assert!(r.permits_journal(&journal("journal/other:*")).is_err(), "namespaces are asked for");
    }

    #[test]
    fn a_journal_root_admits_its_namespace_or_exactly_one_source() {
        let r =
            Roots::new(["/var/log".to_owned(), "journal/app:".to_owned(), "journal:cron.service".to_owned()]);
        let journal = |p: &str| JournalPath::parse(p).unwrap().unwrap();
        assert!(r.permits_journal(&journal("journal/app:*")).is_ok());
        assert!(r.permits_journal(&journal("journal/app:SYSLOG_IDENTIFIER=x")).is_ok());
        assert!(r.permits_journal(&journal("journal:cron.service")).is_ok());
        let err = r.permits_journal(&journal("journal:ssh.service")).unwrap_err().to_string();
        assert!(err.contains("journal:ssh.service is not a journal this host serves"), "{err}");
        assert_eq!(r.as_slice(), ["/var/log"], "journal roots are not file roots");
    }

    #[test]
    fn proc_sys_and_dev_are_never_served() {
        let r = Roots::new(["/".to_owned()]);
        assert!(r.permits("/etc/hosts").is_ok());
        for p in ["/proc/self/environ", "/proc", "/sys/kernel/x", "/dev/zero"] {
            assert!(matches!(r.permits(p), Err(Outside::Never { .. })), "{p}");
        }
        assert!(r.permits("/processes/x").is_ok());
    }

    #[test]
    fn listings_walk_down_to_the_roots_and_show_only_what_leads_there() {
        let r = Roots::new(["/home/nutanix/data/logs/genesis.out".to_owned(), "/var/log".to_owned()]);
        assert!(r.lists("/home/nutanix/data/logs").is_ok());
        assert!(r.lists("/home").is_ok());
        assert!(r.lists("/var/log/apt").is_ok());
        assert!(r.lists("/etc").is_err());
        assert!(r.lists("/proc").is_err());
        assert!(r.shows("/home/nutanix/data/logs/genesis.out", false));
        assert!(!r.shows("/home/nutanix/data/logs/other.out", false));
        assert!(r.shows("/home/nutanix", true));
        assert!(!r.shows("/home/alice", true));
    }
}
