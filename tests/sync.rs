//! The sync role of `tailrace run` and the logs API over what it synced: a target synced on
//! request over NATS, two requests during one sync answered by that one sync, and its status;
//! every file of the seed's table in its service, content by tail and range, followed live and
//! resumed exactly, searched, every way out of the mirror refused; retention compressing and
//! expiring copies that still read, search and follow the same.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use std::io::Write;

use serde_json::Value;
use support::binary::{stop, Setup};
use tailrace_gateway::testing::SseReader;

/// A local target `lab` of `remote`, with `extra` keys.
fn lab(remote: &Path, extra: &str) -> Setup {
    Setup::new(&format!(
        "[[sync.targets]]\nname = \"lab\"\nhost = \"local\"\nremote_path = \"{}\"\n{extra}",
        remote.display()
    ))
}

async fn get(base: &str, path_and_query: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path_and_query}")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Starts `tailrace run` and waits until its sync role answers too (it subscribes after the
/// broker is reported connected).
async fn start(setup: &Setup) -> std::process::Child {
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, Duration::from_secs(60)).await;
    for _ in 0..100 {
        let (_, status) = get(&setup.base(), "/status").await;
        if status["sync"].as_array().is_some_and(|s| !s.is_empty()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sync role did not answer within 10 s; log:\n{}", setup.log());
}

/// Syncs `lab` now and returns its outcome.
async fn sync_now(base: &str) -> Value {
    let r =
        reqwest::Client::new().post(format!("{base}/api/v1/sync/trigger?wait=true")).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["synced"][0]["outcome"].clone()
}

/// Waits until the file index lists `n` files (with `query`).
async fn indexed(base: &str, query: &str, n: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = get(base, &format!("/api/v1/logs?limit=1000{query}")).await;
        assert_eq!(status, 200, "{body}");
        if body["total"] == n {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the index never listed {n} files for {query:?}: {last}");
}

fn set_modified(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(SystemTime::now() - ago)).unwrap();
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_triggers_during_one_sync_run_one_sync_and_the_status_says_what_it_moved() {
    let remote = tempfile::tempdir().unwrap();
    std::fs::write(remote.path().join("server-a.log"), "x".repeat(599_999) + "\n").unwrap();
    std::fs::write(remote.path().join("vllm.log"), "ready\n").unwrap();
    // 300 kB/s: the first sync takes about two seconds.
    let setup = Setup::new(&format!(
        "[[sync.targets]]\nname = \"lab\"\nhost = \"local\"\nremote_path = \"{}\"\nbandwidth = 300000\n",
        remote.path().display()
    ));
    let mut run = start(&setup).await;
    let client = setup.client().await;
    let ask = |subject: &'static str| {
        let client = client.clone();
        async move {
            let reply = tokio::time::timeout(Duration::from_secs(30), client.request(subject, "".into()))
                .await
                .expect("answered within 30 s")
                .expect("a reply");
            serde_json::from_slice::<Value>(&reply.payload).unwrap()
        }
    };
    let first = ask("sync.trigger.lab");
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ask("sync.trigger.lab").await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a["status"], "done", "{a}");
    assert_eq!(a, b, "the second trigger joined the running sync");
    assert_eq!(a["outcome"]["created"], 2, "{a}");
    assert_eq!(std::fs::read_to_string(setup.data().join("sync/lab/files/vllm.log")).unwrap(), "ready\n");

    let status = ask("sync.status").await;
    let lab = &status[0];
    assert_eq!(
        (lab["target"].as_str(), lab["runs"].as_u64(), lab["running"].as_bool()),
        (Some("lab"), Some(1), Some(false)),
        "{status}"
    );
    assert_eq!(lab["last_outcome"]["bytes_read"], 600_006, "{status}");

    // Again: nothing changed, nothing read.
    let again = ask("sync.trigger.lab").await;
    assert_eq!(
        (again["outcome"]["unchanged"].as_u64(), again["outcome"]["bytes_read"].as_u64()),
        (Some(2), Some(0)),
        "{again}"
    );

    // Over HTTP: the seed's trigger, waiting for the outcome; a wrong target named; /status.
    std::fs::write(remote.path().join("vllm.log"), "ready\nserving\n").unwrap();
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/api/v1/sync/trigger?wait=true", setup.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["synced"][0]["outcome"]["appended"], 1, "{body}");
    let r = http.post(format!("{}/api/v1/sync/trigger?target=nope", setup.base())).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["field"], "target", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("lab"), "{body}");
    let r = http.post(format!("{}/api/v1/sync/trigger?target=lab", setup.base())).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["triggered"][0]["target"], "lab", "{body}");
    let status: Value =
        http.get(format!("{}/status", setup.base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["sync"][0]["target"], "lab", "{status}");

    // `tailrace sync` asks the running role; `--now` syncs in its own process.
    std::fs::write(remote.path().join("vllm.log"), "ready\nserving\ndraining\n").unwrap();
    let cli = |now: bool| {
        let mut c = support::binary::tailrace();
        c.arg("sync").arg("lab").arg("-c").arg(&setup.config);
        if now {
            c.arg("--now");
        }
        c.output().unwrap()
    };
    let asked = cli(false);
    let (out, err) = (String::from_utf8_lossy(&asked.stdout), String::from_utf8_lossy(&asked.stderr));
    assert!(asked.status.success() && err.contains("asked the running sync role"), "{out}\n{err}");
    assert!(out.contains("sync lab: 2 files: 0 new, 1 appended"), "{out}");
    let here = cli(true);
    let (out, err) = (String::from_utf8_lossy(&here.stdout), String::from_utf8_lossy(&here.stderr));
    assert!(here.status.success() && !err.contains("asked the running sync role"), "{out}\n{err}");
    assert!(out.contains("sync lab: 2 files: 0 new, 0 appended") && out.contains("2 unchanged"), "{out}");
    stop(&mut run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_files_are_listed_by_service_read_followed_and_searched_and_every_way_out_is_refused() {
    let remote = tempfile::tempdir().unwrap();
    // One file per pattern of the seed's table, and one it does not know.
    let table = [
        ("server-01.log", "server"),
        ("orchestrator.log", "server"),
        ("jobs/slurm-job-7.log", "server"),
        ("client-a.log", "client"),
        ("benchmark-b.txt", "client"),
        ("node-monitor.log", "monitoring"),
        ("prometheus.log", "monitoring"),
        ("grafana-times.log", "monitoring"),
        ("grafana.log", "monitoring"),
        ("vllm-0.log", "vllm"),
        ("model-server.log", "vllm"),
        ("inference.log", "vllm"),
        ("job_67890.err", "slurm"),
        ("job_67890.out", "slurm"),
        ("slurm-12.log", "slurm"),
        ("sbatch-run.sh.log", "slurm"),
        ("logs-service.log", "logs"),
        ("other.txt", "uncategorized"),
    ];
    for (file, _) in table {
        let path = remote.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("INFO {file} started\n")).unwrap();
    }
    std::fs::write(
        remote.path().join("grafana-times.log"),
        "starting\n2026-12-05T06:00:00.5Z INFO first\n2026-12-05 06:10:00,250 WARN last\nno time here\n",
    )
    .unwrap();
    let server: String = (1..=50)
        .map(|i| format!("line {i:03} {}\n", if i % 10 == 0 { "ERROR disk full" } else { "INFO ok" }))
        .collect();
    std::fs::write(remote.path().join("server-01.log"), &server).unwrap();
    let setup = lab(remote.path(), "");
    let mut run = start(&setup).await;
    let base = setup.base();
    let outcome = sync_now(&base).await;
    assert_eq!(outcome["created"], table.len(), "{outcome}");
    let listed = indexed(&base, "", table.len() as u64).await;
    for (file, service) in table {
        let row = listed["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == file)
            .unwrap_or_else(|| panic!("{file}: {listed}"));
        assert_eq!(row["category"], service, "{file}");
    }

    // The times the first and last lines state (lines without one skipped).
    let timed = listed["logs"].as_array().unwrap().iter().find(|r| r["path"] == "grafana-times.log").unwrap();
    assert_eq!(
        (timed["first_line_at"].as_str(), timed["last_line_at"].as_str()),
        (Some("2026-12-05T06:00:00.5Z"), Some("2026-12-05T06:10:00.25Z")),
        "{timed}"
    );

    // The seed's services and their statistics; listing by service and name, a bad range named.
    let (_, services) = get(&base, "/api/v1/services").await;
    for name in ["server", "client", "monitoring", "vllm", "slurm", "logs", "uncategorized"] {
        assert!(services["services"].as_array().unwrap().iter().any(|s| s == name), "{services}");
    }
    let (_, stats) = get(&base, "/api/v1/services/stats").await;
    let server_stats =
        stats["services"].as_array().unwrap().iter().find(|s| s["service"] == "server").unwrap();
    assert_eq!(server_stats["file_count"], 3, "{stats}");
    let (_, slurm) = get(&base, "/api/v1/logs?service=slurm&limit=2").await;
    assert_eq!((slurm["total"].as_u64(), slurm["logs"].as_array().unwrap().len()), (Some(4), 2), "{slurm}");
    let (_, named) = get(&base, "/api/v1/logs?name=job_67890").await;
    assert_eq!(named["total"], 2, "{named}");
    let (status, body) =
        get(&base, "/api/v1/logs?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("until")), "{body}");

    // Content: the last lines, a range, both refused together.
    let (_, tail) = get(&base, "/api/v1/logs/content?path=server-01.log&tail=2").await;
    assert_eq!(tail["content"], "line 049 INFO ok\nline 050 ERROR disk full\n", "{tail}");
    assert_eq!(tail["next_offset"], server.len(), "{tail}");
    let (_, range) = get(&base, "/api/v1/logs/content?path=server-01.log&offset=17&length=17").await;
    assert_eq!(range["content"], "line 002 INFO ok\n", "{range}");
    let (status, body) = get(&base, "/api/v1/logs/content?path=server-01.log&tail=2&offset=3").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("tail")), "{body}");

    // Every way out of the mirror, refused naming `path`.
    let mirror = setup.data().join("sync/lab/files");
    std::os::unix::fs::symlink("/etc/passwd", mirror.join("escape.log")).unwrap();
    std::os::unix::fs::symlink(setup.data(), mirror.join("up")).unwrap();
    for bad in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "jobs/..%2F..%2F..%2Fmanifest.json",
        "escape.log",
        "up/sync/lab/manifest.json",
        "server-01.log%00.txt",
        "",
        "server-01.log.tailrace.zst",
    ] {
        let (status, body) = get(&base, &format!("/api/v1/logs/content?path={bad}")).await;
        assert_eq!((status, body["field"].as_str()), (400, Some("path")), "{bad}: {body}");
    }
    let (status, _) = get(&base, "/api/v1/logs/content?path=nothing.log").await;
    assert_eq!(status, 404);
    let (status, body) = get(&base, "/api/v1/logs/content?path=a.log&target=nope").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("target")), "{body}");

    // Search: literal and regex, with context; a bad regex named.
    let (_, found) = get(&base, "/api/v1/logs/search?q=ERROR%20disk&service=server&context=1").await;
    assert_eq!(found["total"], 5, "{found}");
    let first = &found["matches"][0];
    assert_eq!(
        (first["path"].as_str(), first["line_number"].as_u64()),
        (Some("server-01.log"), Some(10)),
        "{found}"
    );
    assert_eq!(first["before"][0], "line 009 INFO ok");
    assert_eq!(first["after"][0], "line 011 INFO ok");
    let (_, re) = get(&base, "/api/v1/logs/search?q=line%200%5B45%5D0&regex=true").await;
    assert_eq!(re["total"], 2, "{re}");
    let (status, body) = get(&base, "/api/v1/logs/search?q=ERR(OR&regex=true").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("q")), "{body}");

    // Follow: the last line, then every line the sync appends, once each, in order.
    let url = format!("{base}/api/v1/logs/content?path=server-01.log&follow=1&tail=1");
    let mut sse = SseReader::open(&url, None).await;
    assert_eq!(sse.status, 200);
    let e = sse.next_named("log").await;
    assert_eq!(e.json()["line"], "line 050 ERROR disk full");
    let appended: String = (51..=80).map(|i| format!("line {i:03} INFO more\n")).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(remote.path().join("server-01.log"))
        .unwrap()
        .write_all(appended.as_bytes())
        .unwrap();
    assert_eq!(sync_now(&base).await["appended"], 1);
    let mut ids = Vec::new();
    for i in 51..=80 {
        let e = sse.next_named("log").await;
        assert_eq!(e.json()["line"], format!("line {i:03} INFO more"));
        ids.push(e.id.unwrap());
    }
    // A client that had up to line 60 resumes with exactly lines 61..=80.
    let mut resumed = SseReader::open(&url, Some(&ids[9])).await;
    for i in 61..=80 {
        assert_eq!(resumed.next_named("log").await.json()["line"], format!("line {i:03} INFO more"));
    }
    let (status, body) = {
        let r = reqwest::Client::new().get(&url).header("Last-Event-ID", "99999999").send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!((status, body["field"].as_str()), (400, Some("Last-Event-ID")), "{body}");
    stop(&mut run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_compresses_and_expires_copies_and_compressed_ones_still_read_search_and_grow() {
    let remote = tempfile::tempdir().unwrap();
    let old: String = (1..=2000).map(|i| format!("old line {i:04} WARN slow\n")).collect();
    std::fs::write(remote.path().join("server-old.log"), &old).unwrap();
    set_modified(&remote.path().join("server-old.log"), 10 * DAY);
    std::fs::write(remote.path().join("server-ancient.log"), "ancient\n").unwrap();
    set_modified(&remote.path().join("server-ancient.log"), 40 * DAY);
    std::fs::write(remote.path().join("server-new.log"), "fresh\n").unwrap();
    let setup = lab(remote.path(), "compress_after = \"1d\"\ndelete_after = \"30d\"\n");
    let mut run = start(&setup).await;
    let base = setup.base();
    let mirror = setup.data().join("sync/lab/files");

    let first = sync_now(&base).await;
    assert_eq!(
        (first["created"].as_u64(), first["compressed"].as_u64(), first["expired"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "{first}"
    );
    assert!(!mirror.join("server-old.log").exists() && mirror.join("server-old.log.tailrace.zst").exists());
    assert!(!mirror.join("server-ancient.log").exists(), "past expiry: never fetched");
    let listed = indexed(&base, "&service=server", 2).await;
    let row =
        listed["logs"].as_array().unwrap().iter().find(|r| r["path"] == "server-old.log").unwrap().clone();
    let mut copy = Value::Null;
    for _ in 0..200 {
        copy = get(&base, "/api/v1/logs?name=server-old").await.1["logs"][0]["copy"].clone();
        if copy == "compressed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(copy, "compressed", "the index says how the copy is kept");
    assert_eq!(row["lines"], 2000, "{row}");

    // A compressed copy reads, searches and follows as the plain one did.
    let (_, tail) = get(&base, "/api/v1/logs/content?path=server-old.log&tail=2").await;
    assert_eq!(tail["content"], "old line 1999 WARN slow\nold line 2000 WARN slow\n", "{tail}");
    assert_eq!((tail["compressed"].as_bool(), tail["size"].as_u64()), (Some(true), Some(old.len() as u64)));
    let (_, range) = get(&base, "/api/v1/logs/content?path=server-old.log&offset=24&length=24").await;
    assert_eq!(range["content"], "old line 0002 WARN slow\n", "{range}");
    let (_, found) = get(&base, "/api/v1/logs/search?q=old%20line%201234").await;
    assert_eq!(
        (found["total"].as_u64(), found["matches"][0]["line_number"].as_u64()),
        (Some(1), Some(1234)),
        "{found}"
    );
    let url = format!("{base}/api/v1/logs/content?path=server-old.log&follow=1&tail=1");
    let mut sse = SseReader::open(&url, None).await;
    assert_eq!(sse.next_named("log").await.json()["line"], "old line 2000 WARN slow");

    // It grows: expanded, only the new bytes (and the verified block) move, the follow sees them.
    std::fs::OpenOptions::new()
        .append(true)
        .open(remote.path().join("server-old.log"))
        .unwrap()
        .write_all(b"old line 2001 ERROR woke up\n")
        .unwrap();
    let grown = sync_now(&base).await;
    assert_eq!(
        (grown["appended"].as_u64(), grown["lines_published"].as_u64()),
        (Some(1), Some(1)),
        "{grown}"
    );
    assert_eq!(grown["bytes_read"], 4096 + "old line 2001 ERROR woke up\n".len(), "{grown}");
    assert_eq!(sse.next_named("log").await.json()["line"], "old line 2001 ERROR woke up");
    assert_eq!(
        std::fs::read_to_string(mirror.join("server-old.log")).unwrap(),
        old.clone() + "old line 2001 ERROR woke up\n"
    );
    assert!(!mirror.join("server-old.log.tailrace.zst").exists(), "the plain copy supersedes it");

    // A file that turns out older than expiry: its copy is deleted, the index forgets it, and
    // the next sync does not fetch it again.
    set_modified(&remote.path().join("server-new.log"), 31 * DAY);
    let expired = sync_now(&base).await;
    assert_eq!(expired["expired"], 1, "{expired}");
    assert!(!mirror.join("server-new.log").exists());
    indexed(&base, "&service=server", 1).await;
    let (_, gone) = get(&base, "/api/v1/logs?removed=true&name=server-new").await;
    assert_eq!(gone["logs"][0]["copy"], "expired", "{gone}");
    let again = sync_now(&base).await;
    assert_eq!((again["created"].as_u64(), again["expired"].as_u64()), (Some(0), Some(0)), "{again}");
    stop(&mut run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_page_lists_services_and_files_shows_a_tail_follows_appends_and_marks_search_matches() {
    use tailrace_gateway::browser::Browser;
    const T: Duration = Duration::from_secs(20);
    let remote = tempfile::tempdir().unwrap();
    let log = remote.path().join("server-01.log");
    let body: String = (1..=100)
        .map(|i| format!("line {i:03} {}\n", if i % 25 == 0 { "ERROR disk full" } else { "INFO ok" }))
        .collect();
    std::fs::write(&log, body).unwrap();
    std::fs::write(remote.path().join("vllm-0.log"), "ready\n").unwrap();
    let append = |from: u32, to: u32| {
        let text: String = (from..=to).map(|i| format!("line {i:03} WARN later\n")).collect();
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(text.as_bytes()).unwrap();
    };
    let setup = lab(remote.path(), "");
    let mut run = start(&setup).await;
    let base = setup.base();
    sync_now(&base).await;
    indexed(&base, "", 2).await;

    let browser = Browser::start().await;
    let js = |script: String| {
        let client = browser.client.clone();
        async move { client.execute(&script, vec![]).await.unwrap() }
    };
    let shown = "document.querySelectorAll('#log .ln').length";
    browser.client.goto(&format!("{base}/logs")).await.unwrap();
    let server = browser
        .wait_for("document.querySelector('#services button[data-service=server]')?.textContent", T)
        .await;
    assert!(server.as_str().unwrap().starts_with("server (1"), "{server}");
    browser.wait_for("document.querySelectorAll('#files tr.file').length === 2", T).await;

    // Open the file: its lines, errors highlighted, the URL says which file.
    js("document.querySelector('#files tr.file[data-path=\"server-01.log\"]').click()".into()).await;
    browser.wait_for(&format!("{shown} === 100"), T).await;
    browser.wait_for("document.querySelectorAll('#log .ln.error').length === 4", T).await;
    let url = js("return location.search".into()).await;
    assert!(url.as_str().unwrap().contains("path=server-01.log"), "{url}");

    // Follow: what the sync appends arrives; paused, it is held and counted.
    js("document.getElementById('follow').click()".into()).await;
    browser.wait_for("document.getElementById('follow').textContent === 'Unfollow'", T).await;
    append(101, 103);
    sync_now(&base).await;
    browser.wait_for(&format!("{shown} === 103"), T).await;
    browser
        .wait_for(
            "document.querySelector('#log .ln.warn:last-child')?.dataset.line === 'line 103 WARN later'",
            T,
        )
        .await;
    js("document.getElementById('pause').click()".into()).await;
    append(104, 108);
    sync_now(&base).await;
    browser.wait_for("document.getElementById('held').textContent.includes('5 held')", T).await;
    assert_eq!(js(format!("return {shown}")).await, 103, "held, not shown");
    js("document.getElementById('pause').click()".into()).await;
    browser.wait_for(&format!("{shown} === 108"), T).await;

    // Search: the matches listed with the term marked; a click opens the file.
    js("document.getElementById('q').value = 'disk full'; document.querySelector('#search-form button').click()".into())
        .await;
    browser.wait_for("document.querySelectorAll('#results li').length === 4", T).await;
    let marked = browser.wait_for("document.querySelector('#results li mark')?.textContent", T).await;
    assert_eq!(marked, "disk full");
    let url = js("return location.search".into()).await;
    assert!(url.as_str().unwrap().contains("q=disk+full"), "{url}");
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("logs.png")).await;
    }

    // The URL reproduces the view.
    let url = js("return location.href".into()).await;
    browser.client.goto(url.as_str().unwrap()).await.unwrap();
    browser.wait_for(&format!("{shown} === 108"), T).await;
    browser.wait_for("document.querySelectorAll('#results li').length === 4", T).await;
    browser.close().await;
    stop(&mut run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_tailrace_sync_mid_tree_and_a_rerun_lose_and_double_no_line() {
    use tailrace_schemas::{decode, LogBatch};
    let nats = tailrace_nats::testing::TestServer::start_with_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote");
    // 200 files of 500 numbered lines: 100,000 lines, each once.
    for f in 0..200 {
        let body: String = (0..500).map(|i| format!("file {f:03} line {i:04} INFO numbered\n")).collect();
        std::fs::create_dir_all(remote.join(format!("d{}", f % 10))).unwrap();
        std::fs::write(remote.join(format!("d{}/server-{f:03}.log", f % 10)), body).unwrap();
    }
    let config = support::binary::write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[nats]\nurl = \"{}\"\n[[sync.targets]]\nname = \"lab\"\nhost = \"local\"\n\
             remote_path = \"{}\"\nbandwidth = 800000\n",
            dir.path().join("data").display(),
            nats.url(),
            remote.display()
        ),
    );
    let sync = || {
        support::binary::tailrace()
            .args(["sync", "--now", "-c"])
            .arg(&config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // 1.9 MB at 0.8 MB/s: killed three times part way (1.5 s of 2.4), then let finish.
    for after in [300, 700, 500] {
        let mut child = sync();
        tokio::time::sleep(Duration::from_millis(after)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let mirror = dir.path().join("data/sync/lab/files");
    let copied = walk(&mirror).into_iter().filter(|p| p.ends_with(".log")).count();
    assert!(copied > 0 && copied < 200, "the kills landed mid-tree ({copied} of 200 copied)");
    let last = sync().wait_with_output().unwrap();
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stdout));

    let js = nats.jetstream().await;
    let mut seen: std::collections::BTreeMap<String, u32> = Default::default();
    for m in tailrace_nats::testing::stored(&js, "LOGS").await {
        for l in decode::<LogBatch>(&m.payload).unwrap().lines {
            *seen.entry(l.text).or_insert(0) += 1;
        }
    }
    let doubled = seen.values().filter(|n| **n > 1).count();
    let lost = 100_000 - seen.len();
    assert_eq!((lost, doubled), (0, 0), "lines lost and doubled");
    for f in [0, 77, 199] {
        let rel = format!("d{}/server-{f:03}.log", f % 10);
        assert_eq!(
            std::fs::read(mirror.join(&rel)).unwrap(),
            std::fs::read(remote.join(&rel)).unwrap(),
            "{rel}"
        );
    }
    let partial = walk(&mirror).into_iter().filter(|p| p.ends_with(".tailrace-partial")).count();
    assert_eq!(partial, 0, "no partial copy left behind by the last sync");
}

/// Every file name under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}
