//! The `[controller]` section: who this machine is, what stands for its apps, how often to
//! sample and report, and where reports go.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tailrace_schemas::CustomerId;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// The customer this machine reports as (required to run the controller).
    pub customer_id: Option<CustomerId>,
    /// How often memory and CPU are read (the seed's 15 s).
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
    /// How often a report is made and sent (the seed's 5 min); also the window of its figures
    /// and of its log scan.
    #[serde(with = "humantime_serde")]
    pub report_interval: Duration,
    /// Where reports go.
    pub hub: HubConfig,
    /// The Docker Engine's socket; containers are the apps' members when it answers.
    pub docker_socket: PathBuf,
    /// Apps never reported (the seed's protected stacks: the infrastructure itself).
    pub protected: Vec<String>,
    /// What the catalog says of apps (display name, memory estimate and limit), by app name;
    /// a container's labels `tailrace.display_name`, `tailrace.catalog_estimate` and
    /// `tailrace.catalog_limit` say the same and win.
    pub apps: Vec<CatalogApp>,
    /// Apps that are not containers: a cgroup (a systemd unit's, or any group) each.
    pub groups: Vec<GroupApp>,
    /// The longest one container's (or group's) log scan may take; the scan goes on with the
    /// next (the seed's 10 s).
    #[serde(with = "humantime_serde")]
    pub scan_timeout: Duration,
    /// The cgroup filesystem's mount point (for tests and containers that mount it elsewhere).
    pub cgroup_root: PathBuf,
    /// The outbox's directory: reports wait here until the hub has them. Default
    /// `{data_dir}/controller-outbox`.
    pub outbox: Option<PathBuf>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            customer_id: None,
            sample_interval: Duration::from_secs(15),
            report_interval: Duration::from_secs(300),
            hub: HubConfig::default(),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            protected: Vec::new(),
            apps: Vec::new(),
            groups: Vec::new(),
            scan_timeout: Duration::from_secs(10),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            outbox: None,
        }
    }
}

/// How reports reach the hub.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "transport", rename_all = "lowercase")]
pub enum HubConfig {
    /// Published on `reports.{customer}` through the NATS connection of `[nats]`.
    #[default]
    Nats,
    /// POSTed to the hub gateway's `/api/v1/report` with a controller token.
    Http {
        /// The gateway's base URL (`https://hub.example.com`).
        url: String,
        /// A token of role `controller` bound to this customer.
        token: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogApp {
    pub name: String,
    pub display_name: String,
    /// The catalog's memory request (`256M`).
    pub catalog_estimate: String,
    /// The catalog's memory limit (`512M`).
    pub catalog_limit: String,
}

/// An app that is a cgroup: a systemd unit (`unit = "nginx.service"`) or a group's path
/// under the cgroup root (`path = "system.slice/nginx.service"`), with where its logs are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupApp {
    pub app: String,
    pub unit: Option<String>,
    pub path: Option<String>,
    /// Log files to scan (new lines since the last scan). A unit without files is scanned in
    /// the journal.
    pub logs: Vec<PathBuf>,
}

/// A `[controller]` section that cannot run, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("controller.customer_id is not set: the controller reports as one customer")]
    NoCustomer,
    #[error("controller.{key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ControllerConfig {
    pub fn validate(&self) -> Result<CustomerId, ConfigError> {
        let customer = self.customer_id.clone().ok_or(ConfigError::NoCustomer)?;
        let invalid =
            |key: &str, reason: &str| ConfigError::Invalid { key: key.into(), reason: reason.into() };
        if self.sample_interval.is_zero() {
            return Err(invalid("sample_interval", "must be more than 0"));
        }
        if self.report_interval < self.sample_interval {
            return Err(invalid("report_interval", "must be at least sample_interval"));
        }
        if let HubConfig::Http { url, token } = &self.hub {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid("hub.url", "must start with http:// or https://"));
            }
            if token.is_empty() {
                return Err(invalid("hub.token", "a controller token is required over HTTP"));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.app.is_empty() {
                return Err(invalid(&format!("groups[{i}].app"), "names the app the group stands for"));
            }
            if g.unit.is_some() == g.path.is_some() {
                return Err(invalid(&format!("groups[{i}]"), "give exactly one of unit and path"));
            }
        }
        Ok(customer)
    }

    pub fn catalog(&self, app: &str) -> Option<&CatalogApp> {
        self.apps.iter().find(|a| a.name == app)
    }

    pub fn is_protected(&self, app: &str) -> bool {
        self.protected.iter().any(|p| p == app)
    }
}
