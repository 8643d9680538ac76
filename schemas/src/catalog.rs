//! [`Catalog`]: the log files offered for live tail, per host type. The default is the seed's
//! Nutanix CVM list (`cvm`) and the usual system logs of a Linux machine (`linux`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Catalog {
    /// Host type → the files offered on hosts of that type.
    pub kinds: BTreeMap<String, Vec<CatalogFile>>,
}

/// A file offered for live tail: `name` is its display name and its source in subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub name: String,
    pub path: String,
}

const CVM_SERVICES: &[&str] = &[
    "genesis",
    "acropolis",
    "cerebro",
    "prism",
    "zookeeper",
    "stargate",
    "curator",
    "uhura",
    "ergon",
    "hades",
    "pithos",
    "cassandra",
    "alerts",
];

impl Default for Catalog {
    fn default() -> Self {
        let file = |name: &str, path: &str| CatalogFile { name: name.to_owned(), path: path.to_owned() };
        let mut cvm: Vec<CatalogFile> =
            CVM_SERVICES.iter().map(|s| file(s, &format!("/home/nutanix/data/logs/{s}.out"))).collect();
        cvm.push(file("syslog", "/var/log/messages"));
        let linux = vec![
            file("syslog", "/var/log/syslog"),
            file("messages", "/var/log/messages"),
            file("auth", "/var/log/auth.log"),
            file("kern", "/var/log/kern.log"),
            // Hosts that log only to the journal (Debian 12 and most systemd distributions
            // without rsyslog) have none of the files above.
            file("journal", "journal:*"),
        ];
        Self { kinds: BTreeMap::from([("cvm".to_owned(), cvm), ("linux".to_owned(), linux)]) }
    }
}

impl Catalog {
    /// The files offered on hosts of `kind` (none for an unknown kind).
    pub fn files(&self, kind: &str) -> &[CatalogFile] {
        self.kinds.get(kind).map_or(&[], Vec::as_slice)
    }

    /// Whether `path` is offered on hosts of `kind`.
    pub fn offers(&self, kind: &str, path: &str) -> bool {
        self.files(kind).iter().any(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_seed_cvm_list() {
        let c = Catalog::default();
        let names: Vec<&str> = c.files("cvm").iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 14);
        assert_eq!(names.first(), Some(&"genesis"));
        assert_eq!(names.last(), Some(&"syslog"));
        assert!(c.offers("cvm", "/home/nutanix/data/logs/stargate.out"));
        assert!(c.offers("cvm", "/var/log/messages"));
        assert!(!c.offers("linux", "/home/nutanix/data/logs/stargate.out"));
        assert!(c.files("toaster").is_empty());
    }
}
