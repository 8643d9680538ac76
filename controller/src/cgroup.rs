//! Memory, CPU and OOM kills of one control group, read from the cgroup files of either
//! version: v1 (`memory.usage_in_bytes`, `memory.stat`, `cpuacct.usage`, `memory.oom_control`)
//! and v2 (`memory.current`, `memory.stat`, `cpu.stat`, `memory.events`).
//!
//! Memory is the working set as `docker stats` reports it: usage less the inactive file cache
//! (which the kernel reclaims before it would kill anything), so figures agree with what
//! operators see in Docker, and limits advised from them are not inflated by page cache.

use std::path::{Path, PathBuf};

/// Where one group's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// The memory and cpuacct hierarchies of cgroup v1.
    V1 { memory: PathBuf, cpu: PathBuf },
    /// The unified hierarchy.
    V2(PathBuf),
}

/// One reading of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The working set (usage less inactive file cache), bytes.
    pub memory: u64,
    /// CPU time used since the group began, nanoseconds.
    pub cpu_nanos: u64,
    /// Processes the OOM killer ended in the group since it began, where the kernel counts.
    pub oom_kills: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: no {what} in it")]
    Missing { path: PathBuf, what: &'static str },
}

/// Whether `root` is the unified (v2) hierarchy.
pub fn is_v2(root: &Path) -> bool {
    root.join("cgroup.controllers").exists()
}

impl Group {
    /// The group at `path` below the root of each hierarchy (`system.slice/nginx.service`).
    pub fn at(root: &Path, path: &str) -> Self {
        let path = path.trim_start_matches('/');
        if is_v2(root) {
            Group::V2(root.join(path))
        } else {
            Group::V1 { memory: root.join("memory").join(path), cpu: root.join("cpuacct").join(path) }
        }
    }

    /// A systemd unit's group.
    pub fn unit(root: &Path, unit: &str) -> Self {
        let slice = if unit.ends_with(".slice") { String::new() } else { "system.slice/".to_owned() };
        Self::at(root, &format!("{slice}{unit}"))
    }

    /// A Docker container's group, under either cgroup driver (`docker/{id}` by cgroupfs,
    /// `system.slice/docker-{id}.scope` by systemd) or a parent the container was given.
    pub fn container(root: &Path, id: &str, parent: Option<&str>) -> Option<Self> {
        let mut candidates = Vec::new();
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            candidates.push(format!("{}/{id}", parent.trim_matches('/')));
            candidates.push(format!("{}/docker-{id}.scope", parent.trim_matches('/')));
        }
        candidates.push(format!("docker/{id}"));
        candidates.push(format!("system.slice/docker-{id}.scope"));
        candidates.into_iter().map(|c| Self::at(root, &c)).find(Self::exists)
    }

    pub fn exists(&self) -> bool {
        match self {
            Group::V1 { memory, .. } => memory.join("memory.usage_in_bytes").exists(),
            Group::V2(dir) => dir.join("memory.current").exists(),
        }
    }

    pub fn read(&self) -> Result<Reading, CgroupError> {
        match self {
            Group::V1 { memory, cpu } => {
                let usage = number(&memory.join("memory.usage_in_bytes"))?;
                let inactive = stat(&memory.join("memory.stat"), "total_inactive_file")?.unwrap_or(0);
                Ok(Reading {
                    memory: usage.saturating_sub(inactive),
                    cpu_nanos: number(&cpu.join("cpuacct.usage"))?,
                    oom_kills: stat(&memory.join("memory.oom_control"), "oom_kill").ok().flatten(),
                })
            }
            Group::V2(dir) => {
                let usage = number(&dir.join("memory.current"))?;
                let inactive = stat(&dir.join("memory.stat"), "inactive_file")?.unwrap_or(0);
                let cpu_path = dir.join("cpu.stat");
                let cpu_usec = stat(&cpu_path, "usage_usec")?
                    .ok_or(CgroupError::Missing { path: cpu_path, what: "usage_usec" })?;
                Ok(Reading {
                    memory: usage.saturating_sub(inactive),
                    cpu_nanos: cpu_usec.saturating_mul(1000),
                    oom_kills: stat(&dir.join("memory.events"), "oom_kill").ok().flatten(),
                })
            }
        }
    }
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read { path: path.to_owned(), source })
}

/// A file holding one number.
fn number(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| CgroupError::Missing { path: path.to_owned(), what: "number" })
}

/// The value of `key` in a file of `key value` lines.
fn stat(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    Ok(read(path)?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn reads_a_v1_group_as_docker_stats_does() {
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory/docker/abc");
        write(&mem, "memory.usage_in_bytes", "104857600\n");
        write(&mem, "memory.stat", "cache 5\ntotal_inactive_file 4194304\ntotal_rss 1\n");
        write(&mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        write(&root.path().join("cpuacct/docker/abc"), "cpuacct.usage", "1500000000\n");
        let group = Group::container(root.path(), "abc", None).expect("found under docker/");
        let r = group.read().unwrap();
        assert_eq!(r.memory, 104_857_600 - 4_194_304);
        assert_eq!(r.cpu_nanos, 1_500_000_000);
        assert_eq!(r.oom_kills, Some(2));
    }

    #[test]
    fn reads_a_v2_group_of_a_unit() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "cgroup.controllers", "cpu memory\n");
        let dir = root.path().join("system.slice/nginx.service");
        write(&dir, "memory.current", "5242880\n");
        write(&dir, "memory.stat", "anon 1\ninactive_file 1048576\n");
        write(&dir, "cpu.stat", "usage_usec 250000\nuser_usec 1\n");
        write(&dir, "memory.events", "low 0\noom 1\noom_kill 1\n");
        let r = Group::unit(root.path(), "nginx.service").read().unwrap();
        assert_eq!(r.memory, 4_194_304);
        assert_eq!(r.cpu_nanos, 250_000_000);
        assert_eq!(r.oom_kills, Some(1));
    }

    #[test]
    fn a_missing_group_is_an_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let err = Group::at(root.path(), "nope").read().unwrap_err().to_string();
        assert!(err.contains("memory.usage_in_bytes"), "{err}");
    }
}
