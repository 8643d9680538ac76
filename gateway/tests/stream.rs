//! Live subjects over SSE against a real gateway socket and nats-server.

use std::time::Duration;

use futures::StreamExt;
use tailrace_gateway::stream::{follow, Start, StreamItem};
use tailrace_gateway::testing::{serve, SseReader};
use tailrace_gateway::{AppState, GatewayConfig};
use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::TestServer;

struct Gateway {
    _nats: TestServer,
    js: async_nats::jetstream::Context,
    state: AppState,
    base: String,
}

async fn gateway(cfg: GatewayConfig) -> Gateway {
    let nats = TestServer::start_with_topology().await;
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let state = AppState::new(client, cfg, StreamsConfig::default());
    let base = serve(state.clone()).await;
    Gateway { _nats: nats, js, state, base }
}

impl Gateway {
    async fn put(&self, subject: &str, text: &str) -> u64 {
        let batch = tailrace_schemas::LogBatch {
            v: 1,
            host: "h".into(),
            source: "s".into(),
            path: "/p".into(),
            file: None,
            generation: 0,
            lines: vec![tailrace_schemas::LogLine { offset: 0, text: text.into(), lossy: false }],
            next_offset: None,
            read_at: tailrace_schemas::Timestamp::now(),
        };
        let bytes = tailrace_schemas::encode(&batch).unwrap();
        self.js.publish(subject.to_owned(), bytes.into()).await.unwrap().await.unwrap().sequence
    }
}

/// The next `n` events as `(id, first line's text)`.
async fn texts(sse: &mut SseReader, n: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = sse.next().await;
        let v = e.json();
        out.push((
            e.id.unwrap().parse().unwrap(),
            v["payload"]["lines"][0]["text"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

fn url(g: &Gateway, query: &str) -> String {
    format!("{}/api/v1/stream?{query}", g.base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_arrive_in_order_with_stream_sequence_ids() {
    let g = gateway(GatewayConfig::default()).await;
    let mut sse = SseReader::open(&url(&g, "subject=logs.raw.h.>"), None).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    assert_eq!(sse.headers["x-accel-buffering"], "no");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(g.put("logs.raw.h.s", &format!("line {i}")).await);
    }
    g.put("logs.raw.other.s", "not mine").await;
    let got = texts(&mut sse, 5).await;
    assert_eq!(got, seqs.iter().enumerate().map(|(i, s)| (*s, format!("line {i}"))).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_heavy_fan_out_gathered_events_still_arrive_once_each_in_order() {
    // Gathering from the second client on, with a window long enough to gather all ten.
    let cfg = GatewayConfig {
        fanout_linger_above: 2,
        fanout_linger: Duration::from_millis(300),
        ..GatewayConfig::default()
    };
    let g = gateway(cfg).await;
    let mut a = SseReader::open(&url(&g, "subject=logs.raw.h.>"), None).await;
    let mut b = SseReader::open(&url(&g, "subject=logs.raw.h.>"), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut want = Vec::new();
    for i in 0..10 {
        want.push((g.put("logs.raw.h.s", &format!("line {i}")).await, format!("line {i}")));
    }
    assert_eq!(texts(&mut a, 10).await, want);
    assert_eq!(texts(&mut b, 10).await, want);
    let later = g.put("logs.raw.h.s", "after").await;
    assert_eq!(texts(&mut a, 1).await, vec![(later, "after".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resume_delivers_exactly_the_missed_events() {
    let g = gateway(GatewayConfig::default()).await;
    let mut first = SseReader::open(&url(&g, "subject=logs.raw.>"), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        g.put("logs.raw.h.s", &format!("line {i}")).await;
    }
    let seen = texts(&mut first, 3).await;
    drop(first);
    for i in 3..8 {
        g.put("logs.raw.h.s", &format!("line {i}")).await;
    }
    let mut again = SseReader::open(&url(&g, "subject=logs.raw.>"), Some(&seen[2].0.to_string())).await;
    let missed = texts(&mut again, 5).await;
    assert_eq!(
        missed.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["line 3", "line 4", "line 5", "line 6", "line 7"]
    );
    // ...and then it continues live, without repeating anything.
    g.put("logs.raw.h.s", "line 8").await;
    assert_eq!(texts(&mut again, 1).await[0].1, "line 8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_and_since_start_in_history_and_continue_live() {
    let g = gateway(GatewayConfig::default()).await;
    let before = tailrace_schemas::Timestamp::now();
    let s0 = g.put("logs.raw.h.s", "old 0").await;
    g.put("logs.raw.h.s", "old 1").await;
    let mut from = SseReader::open(&url(&g, &format!("subject=logs.raw.h.s&from={}", s0 + 1)), None).await;
    assert_eq!(texts(&mut from, 1).await[0].1, "old 1");
    let mut since =
        SseReader::open(&url(&g, &format!("subject=logs.raw.h.s&since={}", before.to_rfc3339())), None).await;
    assert_eq!(
        texts(&mut since, 2).await.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
        ["old 0", "old 1"]
    );
    g.put("logs.raw.h.s", "new").await;
    assert_eq!(texts(&mut from, 1).await[0].1, "new");
    assert_eq!(texts(&mut since, 1).await[0].1, "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_one_filter_share_one_subscription() {
    let g = gateway(GatewayConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(SseReader::open(&url(&g, "subject=logs.raw.*.s"), None).await);
    }
    let other = SseReader::open(&url(&g, "subject=tail.status.>"), None).await;
    // Subscriptions are made as the streams start, which a loaded machine may take a while to do.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while g.state.hub.subscriptions() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(g.state.hub.subscriptions(), 2, "one per distinct filter");
    g.put("logs.raw.h.s", "to all").await;
    for c in &mut clients {
        assert_eq!(texts(c, 1).await[0].1, "to all");
    }
    drop(clients);
    drop(other);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while g.state.hub.subscriptions() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "subscriptions outlived their clients");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_widening_filters_are_refused() {
    let g = gateway(GatewayConfig::default()).await;
    for (query, expect) in [
        ("subject=>", "not inside one stream"),
        ("subject=logs.>", "not inside one stream"),
        ("subject=logs.raw.a*", "wildcard"),
        ("subject=logs.raw.h%20x.s", "whitespace"),
    ] {
        let resp = reqwest::get(url(&g, query)).await.unwrap();
        assert_eq!(resp.status(), 400, "{query}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(expect), "{query}: {body}");
        assert_eq!(body["field"], "subject");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_gets_lagged_and_is_cut_off() {
    let g = gateway(GatewayConfig { stream_buffer_events: 16, ..Default::default() }).await;
    let mut items = follow(g.state.hub.clone(), "LOGS", "logs.raw.>".into(), Start::Live);
    // Poll once so the subscription exists, then stop reading while much more than fits arrives.
    let _ = tokio::time::timeout(Duration::from_millis(300), items.next()).await;
    for i in 0..400 {
        g.put("logs.raw.h.s", &format!("line {i}")).await;
    }
    let mut events = 0;
    let lagged = loop {
        match tokio::time::timeout(Duration::from_secs(10), items.next()).await.unwrap() {
            Some(StreamItem::Event(_)) => events += 1,
            Some(StreamItem::Lagged(n)) => break n,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(lagged > 0 && events < 400, "{events} events then lagged by {lagged}");
    assert!(items.next().await.is_none(), "cut off after lagged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_subscription_gets_its_subjects_messages_until_unsubscribed() {
    let g = gateway(GatewayConfig::default()).await;
    let s0 = g.put("logs.raw.h.s", "before").await;
    let mut ws = tailrace_gateway::testing::WsClient::connect(&g.base).await;
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.h.*", "from": s0 })).await;
    assert_eq!(ws.next_named("subscribed").await["subject"], "logs.raw.h.*");
    let first = ws.next_named("message").await;
    assert_eq!(
        (first["seq"].as_u64(), first["payload"]["lines"][0]["text"].as_str()),
        (Some(s0), Some("before"))
    );
    let s1 = g.put("logs.raw.h.s", "live").await;
    g.put("logs.raw.other.s", "not mine").await;
    let live = ws.next_named("message").await;
    assert_eq!((live["seq"].as_u64(), live["subject"].as_str()), (Some(s1), Some("logs.raw.h.s")));

    ws.send("unsubscribe", serde_json::json!({ "subject": "logs.raw.h.*" })).await;
    assert_eq!(ws.next_named("unsubscribed").await["subject"], "logs.raw.h.*");
    g.put("logs.raw.h.s", "after").await;
    // The next thing to arrive is the answer to this, not a message.
    ws.send("subscribe", serde_json::json!({ "subject": "tail.status.>" })).await;
    let (event, _) = ws.next().await.unwrap();
    assert_eq!(event, "subscribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_holds_at_most_the_configured_number_of_subscriptions() {
    let g = gateway(GatewayConfig { max_ws_subscriptions: 2, ..Default::default() }).await;
    let mut ws = tailrace_gateway::testing::WsClient::connect(&g.base).await;
    for s in ["logs.raw.a.>", "logs.raw.b.>"] {
        ws.send("subscribe", serde_json::json!({ "subject": s })).await;
        ws.next_named("subscribed").await;
    }
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.c.>" })).await;
    let err = ws.next_named("error").await;
    assert!(err["detail"].as_str().unwrap().contains("max_ws_subscriptions"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_over_the_limit_closes_the_socket() {
    let cfg = GatewayConfig { max_ws_frame_bytes: 1024, max_ws_message_bytes: 1024, ..Default::default() };
    let g = gateway(cfg).await;
    let mut ws = tailrace_gateway::testing::WsClient::connect(&g.base).await;
    ws.send("subscribe", serde_json::json!({ "subject": "x".repeat(4096) })).await;
    assert!(ws.next().await.is_none(), "closed rather than read");
}
