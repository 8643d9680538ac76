//! The one Docker test helper: a small local image (no registry is reachable: a root
//! filesystem of Debian's busybox-static, `docker import`ed once) and containers of it with
//! labels, no network, and known memory and output, removed when dropped.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The image the helper builds.
pub const IMAGE: &str = "tailrace-test-busybox:1";
const BUSYBOX: &str = "/bin/busybox";

/// Whether a Docker Engine answers (`docker info`).
pub fn engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes [`IMAGE`] unless the engine has it.
pub fn ensure_image() {
    let present =
        Command::new("docker").args(["image", "inspect", IMAGE]).output().is_ok_and(|o| o.status.success());
    if present {
        return;
    }
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install busybox-static (deploy/prereqs.sh does)"
    );
    let root = tempfile::tempdir().expect("a scratch directory");
    for dir in ["bin", "dev/shm", "tmp", "proc", "sys"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.path().join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "sleep", "dd", "cat", "head", "seq", "printf", "date", "yes", "rm"] {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet)).unwrap();
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("tar -C {} -c . | docker import - {IMAGE}", root.path().display()))
        .status()
        .expect("tar and docker");
    assert!(status.success(), "docker import of the busybox root filesystem failed");
}

/// A running container, removed (`docker rm -f`) when dropped.
#[derive(Debug)]
pub struct TestContainer {
    pub name: String,
    pub id: String,
}

/// A name no other test of this run or another uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

impl TestContainer {
    /// Runs `script` (busybox sh) in a new container of [`IMAGE`] named `name`, with `labels`,
    /// no network, and room in /dev/shm (memory written there is charged to the container).
    pub fn run(name: &str, labels: &[(&str, &str)], script: &str) -> Self {
        Self::run_with(name, labels, &[], script)
    }

    /// [`TestContainer::run`] with more `docker run` options (`-m 24m`).
    pub fn run_with(name: &str, labels: &[(&str, &str)], options: &[&str], script: &str) -> Self {
        ensure_image();
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--network", "none", "--shm-size", "512m", "--name", name]);
        cmd.args(options);
        for (k, v) in labels {
            cmd.arg("--label").arg(format!("{k}={v}"));
        }
        cmd.args([IMAGE, "sh", "-c", script]);
        let out = cmd.output().expect("docker run");
        assert!(out.status.success(), "docker run {name}: {}", String::from_utf8_lossy(&out.stderr));
        Self { name: name.to_owned(), id: String::from_utf8_lossy(&out.stdout).trim().to_owned() }
    }

    pub fn restart(&self) {
        let out =
            Command::new("docker").args(["restart", "-t", "0", &self.name]).output().expect("docker restart");
        assert!(
            out.status.success(),
            "docker restart {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}

/// A script that holds `mb` MiB (in /dev/shm), prints `lines` (one `echo` each, to stdout,
/// or to stderr when a line starts with `2>`), then sleeps.
pub fn script(mb: u32, lines: &[String]) -> String {
    let mut s = format!("dd if=/dev/zero of=/dev/shm/hold bs=1M count={mb} 2>/dev/null; ");
    for l in lines {
        match l.strip_prefix("2>") {
            Some(err) => s.push_str(&format!("echo '{err}' >&2; ")),
            None => s.push_str(&format!("echo '{l}'; ")),
        }
    }
    s.push_str("sleep 3600");
    s
}

/// A real control group made for a test (in each v1 hierarchy the controller reads, or the
/// unified one), removed when dropped; processes moved into it are killed then.
#[derive(Debug)]
pub struct TestGroup {
    /// Its path below each hierarchy's root, as `[[controller.groups]] path` takes it.
    pub path: String,
    dirs: Vec<std::path::PathBuf>,
    procs: Vec<std::process::Child>,
}

impl TestGroup {
    pub fn new(root: &Path) -> Self {
        let path = unique("tailrace-test");
        let dirs: Vec<_> = if crate::cgroup::is_v2(root) {
            vec![root.join(&path)]
        } else {
            vec![root.join("memory").join(&path), root.join("cpuacct").join(&path)]
        };
        for d in &dirs {
            std::fs::create_dir(d)
                .unwrap_or_else(|e| panic!("making the cgroup {}: {e} (tests run as root)", d.display()));
        }
        Self { path, dirs, procs: Vec::new() }
    }

    /// Starts `program args…` inside the group.
    pub fn spawn(&mut self, program: &str, args: &[&str]) {
        let child = Command::new(program).args(args).spawn().expect("spawn a process for the group");
        for d in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), child.id().to_string())
                .expect("move the process into the group");
        }
        self.procs.push(child);
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}
