//! The shipped server configurations stay valid for the nats-server we install.

use std::process::Command;

use tailrace_nats::server::find_binary;

#[test]
fn every_shipped_server_config_is_valid() {
    let binary = find_binary(None).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut files = vec![dir.join("single.conf")];
    for entry in std::fs::read_dir(dir.join("cluster")).unwrap() {
        files.push(entry.unwrap().path());
    }
    assert_eq!(files.len(), 4, "single + three cluster nodes");
    for f in files {
        let out = Command::new(&binary).arg("-t").arg("-c").arg(&f).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("is valid"), "{}: {text}", f.display());
    }
}
