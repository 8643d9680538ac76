//! Live tail end to end: browsers' WebSocket and SSE clients, the gateway, the tail producer,
//! a real sshd on loopback and a real nats-server.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Stack, HOST, KIND};
use tailrace_gateway::testing::{SseReader, WsClient};
use tailrace_producers::testing::{append_numbered, followers, numbered, numbered_line, until};

fn tail_url(stack: &Stack, host: &str, path: &std::path::Path, name: &str) -> String {
    format!("{}/api/v1/tail/stream?host={host}&path={}&name={name}", stack.base, path.display())
}

/// A host of the catalog answer: each file's name and whether the host has it.
fn present(host: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    host["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f["present"].clone()))
        .collect()
}

/// `POST /api/v1/tail/catalog/refresh?host=`: the producer looks again at what `host` has.
async fn refresh(stack: &Stack, host: &str) -> reqwest::Response {
    let url = format!("{}/api/v1/tail/catalog/refresh?host={host}", stack.base);
    reqwest::Client::new().post(url).send().await.unwrap()
}

/// The `line`s of the next `n` SSE `log` events.
async fn sse_lines(sse: &mut SseReader, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = sse.next_named("log").await;
        let d = e.json();
        out.push((e.id.unwrap_or_default(), d["line"].as_str().unwrap_or_default().to_owned()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_to_a_remote_file_reach_websocket_and_sse_clients_in_order_over_one_ssh_tail() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 5);

    let mut ws = WsClient::connect(&stack.base).await;
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": "app" })).await;
    // Lines and statuses are separate streams: take both as they come.
    let (mut started, mut first) = (None, Vec::new());
    while started.is_none() || first.len() < 5 {
        match ws.next().await.expect("socket open") {
            (e, d) if e == "tail_f_status" => started = Some(d),
            (e, d) if e == "log" => first.push(d["line"].as_str().unwrap().to_owned()),
            _ => {}
        }
    }
    let started = started.unwrap();
    assert_eq!((started["status"].as_str(), started["kind"].as_str()), (Some("started"), Some("started")));
    assert_eq!(started["name"], "app");
    assert_eq!(first, numbered(0, 5), "a fresh tail starts with the file's last lines");

    // The second viewer names the host by its address, as the seed's pages do (cvm_ip).
    let mut sse = SseReader::open(&tail_url(&stack, "127.0.0.1", &path, "app"), None).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["x-accel-buffering"], "no");
    // It starts with the file's last stored lines (here all five), then goes live.
    let context: Vec<String> = sse_lines(&mut sse, 5).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(context, numbered(0, 5));

    for chunk in 0..10 {
        append_numbered(&path, 5 + chunk * 50, 55 + chunk * 50);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let over_ws: Vec<String> = ws.lines(500).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(over_ws, numbered(5, 505));
    let over_sse: Vec<String> = sse_lines(&mut sse, 500).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(over_sse, numbered(5, 505));
    assert_eq!(followers(&path), 1, "two viewers, one follower on the host");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_tail_f_answers_stopped_and_the_remote_follower_ends_after_the_grace_period() {
    let stack = Stack::start(Duration::from_millis(300)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 3);
    let mut ws = WsClient::connect(&stack.base).await;
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": "app" })).await;
    assert_eq!(ws.lines(3).await.len(), 3);
    until("the follower runs on the host", || followers(&path) == 1).await;

    ws.send("stop_tail_f", json!({})).await;
    // (`started` may still be on its way: statuses and lines are separate streams.)
    let stopped = loop {
        let s = ws.next_named("tail_f_status").await;
        if s["status"] != "started" {
            break s;
        }
    };
    assert_eq!((stopped["status"].as_str(), stopped["name"].as_str()), (Some("stopped"), Some("app")));
    until("the follower ends on the host", || followers(&path) == 0).await;

    // The connection stays usable: a new start runs a new tail.
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": "app" })).await;
    until("a new follower runs", || followers(&path) == 1).await;
    drop(ws);
    until("closing the socket releases the tail", || followers(&path) == 0).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_holding_dots_or_wildcards_never_see_another_tails_lines() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let (app, db) = (stack.file("app.log"), stack.file("db.log"));
    std::fs::write(&app, "A first\n").unwrap();
    std::fs::write(&db, "D first\n").unwrap();
    for p in [&app, &db] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
    let mut clients = Vec::new();
    for (name, path) in [("*", &app), ("app.>", &db), ("app", &app), (">", &db)] {
        let mut ws = WsClient::connect(&stack.base).await;
        ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": name })).await;
        let first = ws.lines(1).await;
        assert_eq!(first[0].0, name);
        clients.push((name, path.clone(), ws));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app)
        .map(|mut f| std::io::Write::write_all(&mut f, b"A second\n"))
        .unwrap()
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&db)
        .map(|mut f| std::io::Write::write_all(&mut f, b"D second\n"))
        .unwrap()
        .unwrap();
    for (name, path, ws) in &mut clients {
        let (got_name, line) = ws.lines(1).await.remove(0);
        let want = if *path == app { "A second" } else { "D second" };
        assert_eq!((got_name.as_str(), line.as_str()), (*name, want), "viewer of {name}");
    }
    // Nothing else arrives for anyone: no name widened into another's subject. (A viewer's own
    // tail's status may still arrive late: it travels on another subject than its lines.)
    for (name, _, ws) in &mut clients {
        ws.send("subscribe", json!({ "subject": "tail.status.none.none" })).await;
        loop {
            let (event, data) = ws.next().await.unwrap();
            if event == "tail_f_status" && data["name"] == json!(name) {
                continue;
            }
            assert_eq!(event, "subscribed", "viewer of {name} got a stray event: {data}");
            break;
        }
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_error_events_naming_the_field_and_a_missing_file_gets_its_status() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let mut ws = WsClient::connect(&stack.base).await;
    let missing = stack.file("not-yet.log");
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": missing, "log_name": "later" })).await;
    let status = ws.next_named("tail_f_status").await;
    assert_eq!((status["status"].as_str(), status["kind"].as_str()), (Some("error"), Some("file_missing")));
    assert!(status["message"].as_str().unwrap().contains("not-yet.log"), "{status}");

    for (event, data, field) in [
        ("start_tail_f", json!({ "cvm_ip": "nowhere", "log_path": "/var/log/x" }), "host"),
        ("start_tail_f", json!({ "cvm_ip": HOST, "log_path": "relative/x.log" }), "log_path"),
        ("start_tail_f", json!({ "log_path": "/var/log/x" }), "cvm_ip"),
        ("subscribe", json!({ "subject": "logs.>" }), "subject"),
        ("unsubscribe", json!({ "subject": "logs.raw.a.b" }), "subject"),
        ("dance", json!({}), "event"),
    ] {
        ws.send(event, data.clone()).await;
        let err = ws.next_named("error").await;
        assert_eq!(err["field"], field, "{event} {data}: {err}");
        assert!(!err["detail"].as_str().unwrap().is_empty());
    }
    // Still open and working after every refusal.
    let path = stack.file("app.log");
    append_numbered(&path, 0, 1);
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path })).await;
    assert_eq!(ws.lines(1).await, [("app".to_owned(), numbered_line(0))], "the name defaults to the stem");
    stack.stop().await;
    until("a follower waiting for a missing file ends with its reader", || followers(&missing) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_tail_resumed_with_last_event_id_gets_exactly_the_missed_lines() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 5);
    let url = tail_url(&stack, HOST, &path, "app");
    let mut first = SseReader::open(&url, None).await;
    let seen = sse_lines(&mut first, 5).await;
    assert_eq!(seen.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), numbered(0, 5));
    let last_id = seen[2].0.clone();
    drop(first);
    append_numbered(&path, 5, 8);
    let mut again = SseReader::open(&url, Some(&last_id)).await;
    let missed: Vec<String> = sse_lines(&mut again, 5).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(missed, numbered(3, 8), "resumes after line index 2 of its batch");
    append_numbered(&path, 8, 9);
    assert_eq!(sse_lines(&mut again, 1).await[0].1, numbered_line(8), "then live, no repeats");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_advertised_hosts_with_their_files_and_directories_are_listed_over_ssh() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    append_numbered(&stack.file("app.log"), 0, 2);
    std::fs::create_dir(stack.file("archive")).unwrap();

    let catalog: serde_json::Value =
        reqwest::get(format!("{}/api/v1/tail/catalog", stack.base)).await.unwrap().json().await.unwrap();
    let host = &catalog["hosts"][0];
    assert_eq!((host["host"].as_str(), host["kind"].as_str()), (Some(HOST), Some(KIND)));
    assert_eq!(host["address"], "127.0.0.1");
    let names: Vec<&str> =
        host["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "db"]);

    let list = |host: &str, dir: &str| {
        let url = format!("{}/api/v1/tail/list?host={host}&dir={dir}", stack.base);
        async move { reqwest::get(url).await.unwrap() }
    };
    let resp = list(HOST, &stack.files.path().display().to_string()).await;
    assert_eq!(resp.status(), 200);
    let listing: serde_json::Value = resp.json().await.unwrap();
    let entries: Vec<(&str, bool)> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["dir"].as_bool().unwrap()))
        .collect();
    assert_eq!(entries, [("archive", true), ("app.log", false)]);

    for (host, dir, field) in
        [(HOST, "/no/such/dir", "dir"), (HOST, "relative", "dir"), ("nowhere", "/tmp", "host")]
    {
        let resp = list(host, dir).await;
        assert_eq!(resp.status(), 400, "{host} {dir}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["field"], field, "{body}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_says_which_files_a_host_has_and_looks_again_on_demand() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    append_numbered(&stack.file("app.log"), 0, 2);

    let resp = refresh(&stack, HOST).await;
    assert_eq!(resp.status(), 200);
    let host: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(present(&host), [("app".into(), true.into()), ("db".into(), false.into())], "{host}");
    assert!(host["checked_at"].is_string(), "{host}");
    // The advert every gateway reads says so too.
    let catalog: serde_json::Value =
        reqwest::get(format!("{}/api/v1/tail/catalog", stack.base)).await.unwrap().json().await.unwrap();
    assert_eq!(present(&catalog["hosts"][0]), present(&host));

    // The file appears on the host; a look again finds it.
    append_numbered(&stack.file("db.log"), 0, 1);
    let host: serde_json::Value = refresh(&stack, "127.0.0.1").await.json().await.unwrap();
    assert_eq!(present(&host), [("app".into(), true.into()), ("db".into(), true.into())], "{host}");

    let resp = refresh(&stack, "nowhere").await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "host", "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stack = Stack::start(Duration::from_secs(10)).await;
    let url = format!("{}/api/v1/ws", stack.base.replacen("http://", "ws://", 1));
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected a 403 refusal, got {other:?}"),
    }
    let mut same = url.as_str().into_client_request().unwrap();
    same.headers_mut().insert("origin", stack.base.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(same).await.is_ok(), "same origin is allowed");
    stack.stop().await;
}

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

async fn json_of(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_a_host_may_not_serve_are_refused_before_a_tail_starts_naming_log_path() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let secret = tempfile::Builder::new().prefix("tailrace-secret-").tempdir().unwrap();
    std::fs::write(secret.path().join("shadow"), "root:$6$hash\n").unwrap();
    std::os::unix::fs::symlink(secret.path().join("shadow"), stack.file("innocent.log")).unwrap();
    std::fs::create_dir(stack.file("archive")).unwrap();
    for (path, status, why) in [
        (stack.file("innocent.log").display().to_string(), 403, "outside the roots"),
        ("/proc/self/environ".to_owned(), 403, "never served"),
        ("/etc/shadow".to_owned(), 403, "outside the roots"),
        (stack.file("archive").display().to_string(), 400, "is a directory"),
    ] {
        let url = format!("{}/api/v1/tail/stream?host={HOST}&path={path}&name=x", stack.base);
        let (code, body) = json_of(&url).await;
        assert_eq!(code, status, "{path}: {body}");
        assert_eq!(body["field"], "log_path", "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(why), "{path}: {body}");

        let mut ws = WsClient::connect(&stack.base).await;
        ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": "x" })).await;
        let err = ws.next_named("error").await;
        assert_eq!(
            (err["field"].as_str(), err["request"].as_str()),
            (Some("log_path"), Some("start_tail_f")),
            "{err}"
        );
    }
    let (code, body) = json_of(&format!("{}/api/v1/tail/list?host={HOST}&dir=/etc", stack.base)).await;
    assert_eq!((code, body["field"].as_str()), (403, Some("dir")), "{body}");
    let (code, body) =
        json_of(&format!("{}/api/v1/tail/list?host={HOST}&dir={}", stack.base, stack.files.path().display()))
            .await;
    assert_eq!(code, 200, "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_never_reads_the_lines_of_an_operators_tail() {
    let stack = Stack::start_with(
        Duration::from_secs(10),
        &[(VIEWER, tailrace_gateway::Role::Viewer), (OPERATOR, tailrace_gateway::Role::Operator)],
    )
    .await;
    let (catalog, private) = (stack.file("app.log"), stack.file("private.log"));
    append_numbered(&catalog, 0, 3);
    std::fs::write(&private, "token=hunter2\n").unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();

    // A viewer watching every raw line, over SSE and WebSocket.
    let mut sse = SseReader::open(
        &format!("{}/api/v1/stream?subject=logs.raw.>&access_token={VIEWER}", stack.base),
        None,
    )
    .await;
    assert_eq!(sse.status, 200);
    let mut ws = WsClient::connect_as(&stack.base, Some(VIEWER)).await;
    ws.send("subscribe", json!({ "subject": "logs.raw.>" })).await;
    ws.next_named("subscribed").await;

    // An operator tails a file outside the catalog; it may not borrow a catalog name for it.
    let url = |token: &str, path: &std::path::Path, name: &str| {
        format!(
            "{}/api/v1/tail/stream?host={HOST}&path={}&name={name}&access_token={token}",
            stack.base,
            path.display()
        )
    };
    let (code, body) = json_of(&url(OPERATOR, &private, "app")).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("log_name")), "{body}");
    let (code, _) = json_of(&url(VIEWER, &private, "private")).await;
    assert_eq!(code, 403, "a viewer may not start it");
    let mut op = SseReader::open(&url(OPERATOR, &private, "private"), None).await;
    assert_eq!(sse_lines(&mut op, 1).await[0].1, "token=hunter2", "the operator reads it");

    // Then the viewer starts a catalog file: that is what it sees, and only that.
    let own = SseReader::open(&url(VIEWER, &catalog, "app"), None).await;
    assert_eq!(own.status, 200);
    append_numbered(&catalog, 3, 6);
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let e = sse.next().await.json();
        assert!(e["subject"].as_str().unwrap().ends_with(".app"), "viewer saw {e}");
        seen.extend(
            e["payload"]["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen, numbered(0, 6));
    let mut over_ws = Vec::new();
    while over_ws.len() < 6 {
        let m = ws.next_named("message").await;
        assert!(m["subject"].as_str().unwrap().ends_with(".app"), "viewer saw {m}");
        over_ws.extend(
            m["payload"]["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(over_ws, numbered(0, 6));
    // Processors' outputs are for operators.
    let (code, _) =
        json_of(&format!("{}/api/v1/stream?subject=derived.>&access_token={VIEWER}", stack.base)).await;
    assert_eq!(code, 403);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_joins_or_reopens_a_tail_gets_its_last_hundred_lines_then_live_without_gap_or_repeat() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 1);
    let url = tail_url(&stack, HOST, &path, "app");
    let mut first = SseReader::open(&url, None).await;
    assert_eq!(sse_lines(&mut first, 1).await[0].1, numbered_line(0));
    // Ten lines in ten batches while the first viewer watches.
    for n in 1..11 {
        append_numbered(&path, n, n + 1);
        assert_eq!(sse_lines(&mut first, 1).await[0].1, numbered_line(n));
    }
    let mut joined = SseReader::open(&url, None).await;
    let context: Vec<String> = sse_lines(&mut joined, 11).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(context, numbered(0, 11), "a viewer joining sees every line before it, not one batch");

    // 150 more in batches: a newcomer gets exactly the last 100 (gateway.tail_context_lines).
    for chunk in 0..15 {
        append_numbered(&path, 11 + chunk * 10, 21 + chunk * 10);
    }
    let both: Vec<String> = sse_lines(&mut joined, 150).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(both, numbered(11, 161));
    let mut late = SseReader::open(&url, None).await;
    let context: Vec<String> = sse_lines(&mut late, 100).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(context, numbered(61, 161));
    append_numbered(&path, 161, 162);
    assert_eq!(sse_lines(&mut late, 1).await[0].1, numbered_line(161), "then live, no repeat");

    // Everyone leaves; the tail stops; reopening the file later shows its last 100 lines again.
    drop((first, joined, late));
    until("the remote follower ends", || followers(&path) == 0).await;
    let mut reopened = SseReader::open(&url, None).await;
    let context: Vec<String> = sse_lines(&mut reopened, 100).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(context, numbered(62, 162));
    append_numbered(&path, 162, 163);
    assert_eq!(sse_lines(&mut reopened, 1).await[0].1, numbered_line(162));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_file_under_a_name_already_tailed_is_refused_over_websocket_and_named_otherwise_is_tailed() {
    let stack = Stack::start(Duration::from_secs(10)).await;
    let first = stack.file("svc.log");
    std::fs::create_dir_all(stack.file("other")).unwrap();
    let second = stack.file("other/svc.log");
    append_numbered(&first, 0, 1);
    append_numbered(&second, 100, 101);
    let mut ws = WsClient::connect(&stack.base).await;
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": first })).await;
    assert_eq!(ws.lines(1).await, [("svc".to_owned(), numbered_line(0))]);

    // Same stem, another file: refused, and the refusal says which request and name.
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": second })).await;
    let err = ws.next_named("error").await;
    assert_eq!(
        (err["request"].as_str(), err["field"].as_str()),
        (Some("start_tail_f"), Some("log_name")),
        "{err}"
    );
    assert_eq!(err["log_name"], "svc", "{err}");
    assert!(err["detail"].as_str().unwrap().contains("svc.log"), "{err}");

    // Given a name of its own, it is tailed beside the first.
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": second, "log_name": "other-svc" })).await;
    assert_eq!(ws.lines(1).await, [("other-svc".to_owned(), numbered_line(100))]);
    append_numbered(&first, 1, 2);
    assert_eq!(ws.lines(1).await, [("svc".to_owned(), numbered_line(1))]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_offered_where_the_host_has_it_and_tailed_with_context_and_priorities() {
    let stack = Stack::start_with_journal(Duration::from_secs(10)).await;
    let journald = stack.journald.as_ref().unwrap();
    let looked = || async { present(&refresh(&stack, HOST).await.json().await.unwrap()) };
    // No entry of the source yet: not offered.
    assert_eq!(looked().await[2], ("journal".to_owned(), false.into()));
    journald.send_numbered("app", 0, 120);
    journald.send(&[("MESSAGE", "worker crashed"), ("PRIORITY", "2"), ("SYSLOG_IDENTIFIER", "app")]);
    until("journald stored the entries", || journald.count("app") == 121).await;
    assert_eq!(looked().await[2], ("journal".to_owned(), true.into()));

    // Whoever opens it gets its last 100 entries, then live ones, each with its priority.
    let mut ws = WsClient::connect(&stack.base).await;
    let path = journald.path(support::JOURNAL_SELECTOR);
    ws.send("start_tail_f", json!({ "cvm_ip": HOST, "log_path": path, "log_name": "journal" })).await;
    let mut events = Vec::new();
    while events.len() < 100 {
        events.push(ws.next_named("log").await);
    }
    let message = |e: &serde_json::Value| e["line"].as_str().unwrap().split_once("]: ").unwrap().1.to_owned();
    let mut expected = numbered(21, 120);
    expected.push("worker crashed".to_owned());
    assert_eq!(events.iter().map(message).collect::<Vec<_>>(), expected);
    assert_eq!(events[0]["priority"], 6);
    assert_eq!(events[99]["priority"], 2);
    journald.send(&[("MESSAGE", "recovered"), ("PRIORITY", "5"), ("SYSLOG_IDENTIFIER", "app")]);
    let live = ws.next_named("log").await;
    assert_eq!((message(&live), live["priority"].clone()), ("recovered".to_owned(), 5.into()));

    // A malformed journal source is refused before anything starts, naming the field.
    ws.send(
        "start_tail_f",
        json!({ "cvm_ip": HOST, "log_path": journald.path("lower=x"), "log_name": "bad" }),
    )
    .await;
    let err = ws.next_named("error").await;
    assert_eq!(err["field"], "log_path", "{err}");
    assert!(err["detail"].as_str().unwrap().contains("upper-case"), "{err}");
    stack.stop().await;
}
