//! The sync role of `tailrace run`: a target synced on request over NATS, two requests during
//! one sync answered by that one sync, and its status.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::binary::{stop, Setup};

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
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, Duration::from_secs(60)).await;
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
    stop(&mut run).await;
}
