//! [`Member`]: one thing an app is made of — a Docker container, or a cgroup (a systemd unit or
//! a group named in the config) — with where its usage and its logs are read.

use std::path::{Path, PathBuf};

use crate::cgroup::Group;
use crate::config::{ControllerConfig, GroupApp};
use crate::docker::Container;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Stable while the member lives: the container id, or `group:{app}:{unit or path}`.
    pub key: String,
    /// As reported in the app's `containers` (the container's or unit's name).
    pub name: String,
    pub app: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Container {
        container: Container,
        /// Its cgroup files, when this machine's are reachable; else the engine's stats.
        group: Option<Group>,
    },
    Group {
        group: Group,
        unit: Option<String>,
        logs: Vec<PathBuf>,
    },
}

impl Member {
    pub fn container(root: &Path, container: Container) -> Self {
        let group = Group::container(root, &container.id, container.cgroup_parent.as_deref());
        Self {
            key: container.id.clone(),
            name: container.name.clone(),
            app: container.app.clone(),
            kind: Kind::Container { container, group },
        }
    }

    pub fn group(root: &Path, g: &GroupApp) -> Self {
        let (group, name) = match (&g.unit, &g.path) {
            (Some(unit), _) => (Group::unit(root, unit), unit.clone()),
            (None, Some(path)) => (Group::at(root, path), path.clone()),
            (None, None) => unreachable!("validated: a group has a unit or a path"),
        };
        Self {
            key: format!("group:{}:{name}", g.app),
            name,
            app: g.app.clone(),
            kind: Kind::Group { group, unit: g.unit.clone(), logs: g.logs.clone() },
        }
    }

    /// The members of the config's groups (containers come from the engine).
    pub fn groups(cfg: &ControllerConfig) -> Vec<Member> {
        cfg.groups.iter().map(|g| Member::group(&cfg.cgroup_root, g)).collect()
    }
}
