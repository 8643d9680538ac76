//! The seed frontend's Socket.IO client, unchanged (socket.io-client 4.x from npm, run by node),
//! against `/socket.io/` of a real gateway, with the tail producer, a real sshd and a real
//! nats-server: over long-polling, over WebSocket, and as the seed's page connects (polling
//! upgraded to WebSocket).

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Stack, HOST};
use tailrace_gateway::Role;
use tailrace_producers::testing::{append_numbered, followers, numbered, until};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Who the client is: the token it sends, and the Origin it sends as a page of that site would.
#[derive(Default, Clone, Copy)]
struct Who<'a> {
    token: Option<&'a str>,
    origin: Option<&'a str>,
}

/// What the client printed (one JSON event a line), until it exited, and its exit code.
struct Run {
    events: Vec<Value>,
    code: Option<i32>,
}

impl Run {
    fn lines(&self) -> Vec<String> {
        self.of("log").map(|e| e["data"]["line"].as_str().unwrap().to_owned()).collect()
    }

    fn of<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |e| e["event"] == event)
    }
}

/// Runs `tests/socketio/client.mjs`: it starts a tail of `path` as `name`, stops after `n`
/// lines and exits when told the tail stopped. `during` runs once the client is connected.
async fn client(
    base: &str,
    transports: &str,
    path: &str,
    name: &str,
    n: usize,
    who: Who<'_>,
    during: impl FnOnce(),
) -> Run {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio");
    assert!(
        dir.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci --prefix tests/socketio` (deploy/test.sh does)"
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("client.mjs")).args([base, transports, HOST, path, name, &n.to_string()]);
    if let Some(t) = who.token {
        cmd.arg(t);
    }
    if let Some(origin) = who.origin {
        cmd.env("ORIGIN", origin);
    }
    let mut child = cmd.stdout(Stdio::piped()).kill_on_drop(true).spawn().expect("node runs");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let mut during = Some(during);
    let read = async {
        while let Some(line) = out.next_line().await.unwrap() {
            let e: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            if e["event"] == "tail_f_status" && e["data"]["status"] == "started" {
                if let Some(f) = during.take() {
                    f();
                }
            }
            events.push(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(40), read).await.expect("the client finishes within 40 s");
    let code = child.wait().await.unwrap().code();
    Run { events, code }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_socket_io_client_tails_a_file_over_polling_websocket_and_an_upgrade() {
    let stack = Stack::start(Duration::from_millis(300)).await;
    for (i, transports) in ["polling", "websocket", "polling,websocket"].into_iter().enumerate() {
        let path = stack.file(&format!("sio-{i}.log"));
        append_numbered(&path, 0, 3);
        let p = path.clone();
        let run = client(
            &stack.base,
            transports,
            &path.display().to_string(),
            &format!("sio-{i}"),
            203,
            Who::default(),
            move || {
                for chunk in 0..4 {
                    append_numbered(&p, 3 + chunk * 50, 53 + chunk * 50);
                }
            },
        )
        .await;
        assert_eq!(run.code, Some(0), "{transports}: {:?}", run.events);
        assert_eq!(run.lines(), numbered(0, 203), "{transports}: every line once, in order");
        let started = run.of("tail_f_status").next().unwrap();
        assert_eq!(started["data"]["status"], "started", "{transports}");
        assert_eq!(run.of("log").next().unwrap()["data"]["name"], format!("sio-{i}"));
        let done = run.of("done").next().unwrap();
        let want = if transports == "polling" { "polling" } else { "websocket" };
        assert_eq!(done["transport"], want, "{transports}: the seed's client upgrades to WebSocket");
        until("stop_tail_f ends the remote follower", || followers(&path) == 0).await;
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_refusals_reach_the_seeds_page_and_tokens_and_roles_apply() {
    const VIEWER: &str = "viewer-token-0123456789";
    const OPERATOR: &str = "operator-token-0123456789";
    let stack =
        Stack::start_with(Duration::from_millis(300), &[(VIEWER, Role::Viewer), (OPERATOR, Role::Operator)])
            .await;
    let outside = "/etc/passwd";
    // Without a token the connection is refused.
    let run = client(&stack.base, "polling", outside, "pw", 1, Who::default(), || {}).await;
    assert_eq!(run.code, Some(2), "{:?}", run.events);
    assert!(run.of("connect_error").next().is_some());

    // A path outside the host's roots is refused as the seed's page shows errors; a viewer may
    // not tail a file outside the catalog at all.
    for (token, says) in [(OPERATOR, "outside"), (VIEWER, "may not control")] {
        let run = client(
            &stack.base,
            "websocket",
            outside,
            "pw",
            1,
            Who { token: Some(token), origin: None },
            || {},
        )
        .await;
        assert_eq!(run.code, Some(0), "{:?}", run.events);
        let refused = run.of("tail_f_status").next().unwrap();
        assert_eq!(
            (refused["data"]["status"].as_str(), refused["data"]["name"].as_str()),
            (Some("error"), Some("pw"))
        );
        assert!(refused["data"]["message"].as_str().unwrap().contains(says), "{refused}");
    }

    // A page of another site may not use it, over either transport.
    for transports in ["polling", "websocket"] {
        let who = Who { token: Some(OPERATOR), origin: Some("http://evil.example") };
        let run = client(&stack.base, transports, outside, "pw", 1, who, || {}).await;
        assert_eq!(run.code, Some(2), "{transports}: {:?}", run.events);
    }

    // A viewer may tail a catalog file.
    let path = stack.file("app.log");
    append_numbered(&path, 0, 2);
    let run = client(
        &stack.base,
        "polling,websocket",
        &path.display().to_string(),
        "app",
        2,
        Who { token: Some(VIEWER), origin: None },
        || {},
    )
    .await;
    assert_eq!(run.lines(), numbered(0, 2), "{:?}", run.events);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_client_is_told_when_the_gateway_stops_instead_of_waiting_in_silence() {
    let stack = Stack::start(Duration::from_millis(300)).await;
    let path = stack.file("sio-stop.log");
    append_numbered(&path, 0, 3);
    let stopping = stack.gateway.clone();
    let run = client(
        &stack.base,
        "polling,websocket",
        &path.display().to_string(),
        "sio-stop",
        1000,
        Who::default(),
        move || stopping.cancel(),
    )
    .await;
    assert_eq!(run.code, Some(0), "{:?}", run.events);
    let last = run.of("tail_f_status").last().unwrap();
    assert_eq!(
        (last["data"]["status"].as_str(), last["data"]["kind"].as_str()),
        (Some("error"), Some("shutdown")),
        "{last}"
    );
    assert!(last["data"]["message"].as_str().unwrap().contains("stopping"), "{last}");
    stack.stop().await;
}
