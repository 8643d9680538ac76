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

/// A batch of one line.
fn batch(text: String) -> tailrace_schemas::LogBatch {
    tailrace_schemas::LogBatch {
        v: 1,
        host: "h".into(),
        source: "s".into(),
        path: "/p".into(),
        file: None,
        generation: 0,
        lines: vec![tailrace_schemas::LogLine { offset: 0, text, lossy: false, priority: None }],
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: tailrace_schemas::Timestamp::now(),
    }
}

impl Gateway {
    async fn put(&self, subject: &str, text: &str) -> u64 {
        let bytes = tailrace_schemas::encode(&batch(text.to_owned())).unwrap();
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
    let mut items =
        follow(g.state.hub.clone(), tailrace_schemas::StreamName::LOGS, "logs.raw.>".into(), Start::Live);
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
    assert_eq!(ws.close_code().await, Some(1009), "closed with 'message too big'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_past_the_end_is_refused_when_asked_for_and_live_only_on_a_reconnect() {
    let g = gateway(GatewayConfig::default()).await;
    let last = g.put("logs.raw.h.s", "old").await;
    let resp = reqwest::get(url(&g, "subject=logs.raw.>&from=1000000000000")).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "from");
    assert!(body["detail"].as_str().unwrap().contains("past the end"), "{body}");
    // Just after the end is fine: the next message.
    let mut sse = SseReader::open(&url(&g, &format!("subject=logs.raw.>&from={}", last + 1)), None).await;
    assert_eq!(sse.status, 200);
    let next = g.put("logs.raw.h.s", "next").await;
    assert_eq!(texts(&mut sse, 1).await, vec![(next, "next".to_owned())]);

    for id in ["18446744073709551614", "18446744073709551615"] {
        let mut sse = SseReader::open(&url(&g, "subject=logs.raw.>"), Some(id)).await;
        assert_eq!(sse.status, 200, "Last-Event-ID {id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let live = g.put("logs.raw.h.s", &format!("live after {id}")).await;
        assert_eq!(texts(&mut sse, 1).await, vec![(live, format!("live after {id}"))], "nothing replayed");
    }

    let mut ws = tailrace_gateway::testing::WsClient::connect(&g.base).await;
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.>", "from": 1_000_000_000_000u64 })).await;
    let err = ws.next_named("error").await;
    assert_eq!(err["field"], "from", "{err}");
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.>", "from": "abc" })).await;
    let err = ws.next_named("error").await;
    assert_eq!(err["field"], "from", "a malformed field is named too: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_line_in_a_small_compressed_message_reaches_clients_cut_to_the_limit() {
    let g = gateway(GatewayConfig { max_line_bytes: 1000, ..Default::default() }).await;
    let mut sse = SseReader::open(&url(&g, "subject=logs.raw.>"), None).await;
    let mut ws = tailrace_gateway::testing::WsClient::connect(&g.base).await;
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.>" })).await;
    ws.next_named("subscribed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let batch = batch("x".repeat(60 << 20));
    let frame = tailrace_schemas::codec::compress(&tailrace_schemas::encode(&batch).unwrap()).unwrap();
    assert!(frame.len() < 64 << 10, "{} bytes on the wire", frame.len());
    g.js.publish("logs.raw.h.s", frame.into()).await.unwrap().await.unwrap();
    let e = sse.next().await;
    assert!(e.data.len() < 4000, "an SSE event of {} bytes", e.data.len());
    let line = &e.json()["payload"]["lines"][0];
    assert_eq!((line["text"].as_str().unwrap().len(), &line["truncated"]), (1000, &serde_json::json!(true)));
    let m = ws.next_named("message").await;
    assert_eq!(m["payload"]["lines"][0]["text"].as_str().unwrap().len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sse_client_is_dropped_after_the_write_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = GatewayConfig {
        write_timeout: Duration::from_secs(1),
        // Far more than will be sent: the client must be dropped for stalling, not for lag.
        stream_buffer_events: 100_000,
        ..Default::default()
    };
    let g = gateway(cfg).await;
    let addr: std::net::SocketAddr = g.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET /api/v1/stream?subject=logs.raw.%3E HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 64];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
    assert_eq!(g.state.hub.subscriptions(), 1);
    // The client reads nothing more while far more than any socket buffer holds is sent.
    let line = "y".repeat(60_000);
    for _ in 0..400 {
        g.put("logs.raw.h.s", &line).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while g.state.hub.subscriptions() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a stalled client still holds its subscription after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_rebinding_page_cannot_open_a_websocket_or_call_the_api() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let g = gateway(GatewayConfig::default()).await;
    let addr = g.base.trim_start_matches("http://").to_owned();
    let status = |request: String| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            (text[9..12].to_owned(), text)
        }
    };
    let upgrade = |host: &str, origin: &str| {
        format!(
            "GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    let (code, text) = status(upgrade("evil.example", "http://evil.example")).await;
    assert_eq!(code, "400", "{text}");
    assert!(text.contains("\"field\":\"Host\""), "{text}");
    let (code, text) = status(upgrade(&addr, "http://evil.example")).await;
    assert_eq!(code, "403", "{text}");
    let (code, _) = status(upgrade(&addr, &format!("http://{addr}"))).await;
    assert_eq!(code, "101", "same origin on our own Host upgrades");
    let (code, text) = status("GET /status HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n".to_owned()).await;
    assert_eq!(code, "400", "{text}");
    let (code, _) = status("GET /health HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n".to_owned()).await;
    assert_eq!(code, "200", "health answers probes by any address");
}

/// One page of `/api/v1/logs/history`.
async fn history_page(g: &Gateway, query: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{}/api/v1/logs/history?{query}", g.base)).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_back_to_the_first_line_without_gap_or_repeat_while_lines_arrive() {
    let g = gateway(GatewayConfig::default()).await;
    // 300 batches of three lines (lines of one batch share their time), and another host's.
    for b in 0..300 {
        let mut batch = batch(String::new());
        batch.lines = (0..3)
            .map(|i| tailrace_schemas::LogLine {
                offset: i,
                text: format!("line {:04}", b * 3 + i),
                lossy: false,
                priority: None,
            })
            .collect();
        g.js.publish("logs.raw.h.s", tailrace_schemas::encode(&batch).unwrap().into())
            .await
            .unwrap()
            .await
            .unwrap();
        if b % 50 == 0 {
            g.put("logs.raw.other.s", "not mine").await;
        }
    }
    // Newest first, 128 a page, following previousPage; new lines arrive meanwhile.
    let mut seen: Vec<String> = Vec::new();
    let mut query = "subject=logs.raw.h.>&limit=128".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = history_page(&g, &query).await;
        assert_eq!(status, 200, "{page}");
        for l in page["lines"].as_array().unwrap() {
            assert_eq!(l["subject"], "logs.raw.h.s");
            seen.push(l["line"].as_str().unwrap().to_owned());
        }
        g.put("logs.raw.h.s", &format!("arrived after page {pages}")).await;
        pages += 1;
        match page["meta"]["previousPage"].as_str() {
            Some(cursor) => query = format!("subject=logs.raw.h.>&limit=128&before={cursor}"),
            None => break,
        }
    }
    seen.reverse();
    assert_eq!(
        seen,
        (0..900).map(|i| format!("line {i:04}")).collect::<Vec<_>>(),
        "every line once, in order"
    );
    assert_eq!(pages, 8, "900 lines in pages of 128");

    // A cursor inside a batch: the lines before it in that batch, then older ones.
    let (_, page) = history_page(&g, "subject=logs.raw.h.s&limit=4").await;
    let newest = page["lines"][0]["cursor"].as_str().unwrap().to_owned();
    let (_, inside) = history_page(&g, "subject=logs.raw.h.s&limit=2&before=1.2").await;
    let texts: Vec<&str> =
        inside["lines"].as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert_eq!(texts, ["line 0001", "line 0000"], "newest {newest}: {inside}");

    // Text search; a time cursor (everything so far is before the year 2099).
    let (_, found) = history_page(&g, "subject=logs.raw.h.>&q=line%2008&limit=1000").await;
    assert_eq!(found["lines"].as_array().unwrap().len(), 100, "line 0800..=0899");
    let (status, late) = history_page(&g, "subject=logs.raw.h.s&before=2099-01-01T00:00:00Z&limit=1").await;
    assert_eq!(status, 200);
    assert!(late["lines"][0]["line"].as_str().unwrap().starts_with("arrived after page"));

    // Wrong requests: 400 naming the field.
    for (query, field) in [
        ("subject=issues.>", "subject"),
        ("subject=logs.raw.h.>&limit=0", "limit"),
        ("subject=logs.raw.h.>&limit=5000", "limit"),
        ("subject=logs.raw.h.>&before=yesterday", "before"),
        ("subject=logs.raw.h.>&before=999999", "before"),
    ] {
        let (status, body) = history_page(&g, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_classified_lines_keeps_a_level_and_above() {
    use tailrace_schemas::{Category, ClassifiedBatch, ClassifiedLine, Severity};
    let g = gateway(GatewayConfig::default()).await;
    for (i, severity) in
        [Severity::Info, Severity::Error, Severity::Warn, Severity::Debug].into_iter().enumerate()
    {
        let batch = ClassifiedBatch {
            v: 1,
            host: "h".into(),
            source: "s".into(),
            path: "/p".into(),
            category: Category::new("app"),
            severity,
            lines: vec![ClassifiedLine {
                offset: i as u64,
                text: format!("{severity} {i}"),
                truncated: false,
                lossy: false,
                continues: false,
            }],
            read_at: tailrace_schemas::Timestamp::now(),
        };
        let subject = format!("logs.classified.app.{severity}.h.s");
        g.js.publish(subject, tailrace_schemas::encode(&batch).unwrap().into()).await.unwrap().await.unwrap();
    }
    let (status, page) = history_page(&g, "subject=logs.classified.>&level=warn").await;
    assert_eq!(status, 200, "{page}");
    let texts: Vec<&str> =
        page["lines"].as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert_eq!(texts, ["warn 2", "error 1"], "newest first, warn and above");
    assert_eq!(page["lines"][0]["severity"], "warn");
    assert_eq!(page["lines"][0]["category"], "app");
    for (query, field) in
        [("subject=logs.raw.h.>&level=warn", "level"), ("subject=logs.classified.>&level=loud", "level")]
    {
        let (status, body) = history_page(&g, query).await;
        assert_eq!((status, body["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_log_entry_is_a_line_of_its_namespace_and_instance_in_history() {
    let g = gateway(GatewayConfig::default()).await;
    let http = reqwest::Client::new();
    let post = |query: &str, body: serde_json::Value| {
        http.post(format!("{}/api/v1/logs?{query}", g.base)).json(&body).send()
    };
    let entry = serde_json::json!({"track": "flow.namespace.billing", "namespace": "billing", "msg": "invoice 7 sent", "level": "warn", "time": "2026-12-05T06:00:00Z"});
    for _ in 0..2 {
        let r = post("instance=run-1", entry.clone()).await.unwrap();
        assert_eq!(r.status(), 202);
    }
    let (status, page) = history_page(&g, "subject=logs.raw.billing.run-1").await;
    assert_eq!(status, 200, "{page}");
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "a retried entry (same time) is stored once: {page}");
    assert!(
        lines[0]["line"].as_str().unwrap().starts_with("WARN invoice 7 sent namespace=billing"),
        "{page}"
    );

    for (query, body, field) in [
        ("", entry.clone(), "instance"),
        ("instance=r", serde_json::json!({"namespace": "billing", "msg": "m"}), "track"),
        ("instance=r", serde_json::json!({"track": "t", "msg": "m"}), "namespace"),
        ("instance=r&namespace=other", entry.clone(), "namespace"),
        ("instance=r", serde_json::json!({"track": "t", "namespace": "billing"}), "msg"),
        ("instance=r", serde_json::json!(["not", "an", "object"]), "body"),
    ] {
        let r = post(query, body).await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_forward_after_a_cursor_and_narrows_by_the_seeds_hierarchy() {
    let g = gateway(GatewayConfig::default()).await;
    let http = reqwest::Client::new();
    // 60 entries over two namespaces and three instances; every third on route "pay".
    for i in 0..60 {
        let (namespace, instance) = (["billing", "shipping"][i % 2], format!("run-{}", i % 3));
        let mut entry = serde_json::json!({"track": format!("flow.namespace.{namespace}"), "namespace": namespace,
            "msg": format!("entry {i:02}"), "time": format!("2026-12-05T06:00:{i:02}Z")});
        if i % 3 == 0 {
            entry["route"] = "pay".into();
        }
        let r = http
            .post(format!("{}/api/v1/logs?instance={instance}", g.base))
            .json(&entry)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let texts = |page: &serde_json::Value| -> Vec<String> {
        page["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_str().unwrap().split(" namespace=").next().unwrap().to_owned())
            .collect()
    };
    let entries = |f: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..60).filter(|&i| f(i)).map(|i| format!("INFO entry {i:02}")).collect()
    };

    // Forwards: after=0 (before the first message), 7 a page, following nextPage.
    let mut seen = Vec::new();
    let mut query = "namespace=billing&limit=7&after=0".to_owned();
    loop {
        let (status, page) = history_page(&g, &query).await;
        assert_eq!(status, 200, "{page}");
        let mut texts = texts(&page);
        texts.reverse();
        seen.extend(texts);
        match page["meta"]["nextPage"].as_str() {
            Some(cursor) => query = format!("namespace=billing&limit=7&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, entries(&|i| i % 2 == 0), "oldest to newest, each once");
    assert_eq!(history_page(&g, "namespace=billing").await.1["meta"]["subject"], "logs.raw.billing.*");

    // Both ends: the lines strictly between two cursors.
    let (_, all) = history_page(&g, "subject=logs.raw.>&limit=60").await;
    let cursor = |i: usize| all["lines"][59 - i]["cursor"].as_str().unwrap().to_owned();
    let (_, between) =
        history_page(&g, &format!("subject=logs.raw.>&after={}&before={}", cursor(10), cursor(14))).await;
    assert_eq!(texts(&between), ["INFO entry 13", "INFO entry 12", "INFO entry 11"]);

    // The hierarchy: instance (source token), and route as the line's field.
    let (_, run1) = history_page(&g, "instance=run-1&limit=100").await;
    assert_eq!(texts(&run1).len(), 20);
    assert!(run1["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["subject"].as_str().unwrap().ends_with(".run-1")));
    let (_, pay) = history_page(&g, "namespace=shipping&route=pay&limit=100").await;
    let mut pay = texts(&pay);
    pay.reverse();
    assert_eq!(pay, entries(&|i| i % 2 == 1 && i % 3 == 0));

    for (query, field) in [
        (format!("subject=logs.raw.>&after={}&before={}", cursor(14), cursor(10)), "after"),
        ("subject=logs.raw.>&after=2026-12-05T07:00:00Z&before=2026-12-05T06:00:00Z".to_owned(), "after"),
        ("subject=logs.raw.>&after=soon".to_owned(), "after"),
        ("subject=logs.raw.>&after=18446744073709551615".to_owned(), "after"),
        ("subject=logs.raw.other.>&namespace=billing".to_owned(), "namespace"),
        ("subject=status.>&instance=run-1".to_owned(), "subject"),
        ("limit=5".to_owned(), "subject"),
        ("namespace=billing&route=a%20b".to_owned(), "route"),
    ] {
        let (status, body) = history_page(&g, &query).await;
        assert_eq!((status, body["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_connection_cut_at_every_byte_resumes_with_exactly_the_missing_events() {
    use tailrace_gateway::testing::complete_events;
    let g = gateway(GatewayConfig::default()).await;
    const N: usize = 5;
    for i in 0..N {
        g.put("logs.raw.h.s", &format!("event {i}")).await;
    }
    let url = format!("{}/api/v1/stream?subject=logs.raw.h.s&from=1", g.base);
    let body = SseReader::open(&url, None).await.raw_events(N).await;
    let whole = complete_events(&body);
    assert_eq!(whole.len(), N);

    // Cut after every byte of the body; resume as EventSource does, from the last whole event.
    let (mut resumed, mut restarted) = (0, 0);
    for cut in 0..=body.len() {
        let mut first = SseReader::open(&url, None).await;
        let prefix = first.raw(cut).await;
        drop(first);
        let mut got = complete_events(&prefix);
        let last_id = got.last().and_then(|e| e.id.clone());
        if last_id.is_some() {
            resumed += 1;
        } else {
            restarted += 1;
        }
        let mut again = SseReader::open(&url, last_id.as_deref()).await;
        while got.len() < N {
            got.push(again.next().await);
        }
        assert_eq!(got, whole, "cut after byte {cut} of {}", body.len());
    }
    assert_eq!(resumed + restarted, body.len() + 1);
    assert!(resumed > 0 && restarted > 0);

    // Every one of those readers' consumers is gone with it, not left for the server to reap:
    // reconnecting crowds would otherwise reach the server's consumer limit.
    let mut logs = g.js.get_stream("LOGS").await.unwrap();
    let mut consumers = u64::MAX;
    for _ in 0..100 {
        consumers = logs.info().await.unwrap().state.consumer_count as u64;
        if consumers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(consumers, 0, "consumers left behind by {} closed readers", 2 * (body.len() + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_tells_its_sse_and_websocket_clients_and_closes_their_streams() {
    use tailrace_gateway::testing::{serve_until, WsClient};
    let nats = TestServer::start_with_topology().await;
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let base =
        serve_until(AppState::new(client, GatewayConfig::default(), StreamsConfig::default()), stop.clone())
            .await;
    let mut sse = SseReader::open(&format!("{base}/api/v1/stream?subject=logs.raw.>"), None).await;
    let mut ws = WsClient::connect(&base).await;
    ws.send("subscribe", serde_json::json!({ "subject": "logs.raw.>" })).await;
    assert_eq!(ws.next().await.unwrap().0, "subscribed");
    js.publish("logs.raw.h.s", tailrace_schemas::encode(&batch("before".into())).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(sse.next().await.id.as_deref(), Some("1"));

    stop.cancel();
    let last = sse.next().await;
    assert_eq!(last.event.as_deref(), Some("shutdown"), "{last:?}");
    assert!(sse.ended().await, "the SSE response ends after it");
    loop {
        match ws.next().await {
            Some((event, _)) if event == "shutdown" => break,
            Some((event, _)) if event == "message" => continue,
            other => panic!("expected shutdown, got {other:?}"),
        }
    }
    assert!(ws.next().await.is_none(), "then the socket closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_the_history_of_catalog_files_only_and_an_operator_reads_all() {
    use tailrace_gateway::auth::Role;
    use tailrace_gateway::config::TokenConfig;
    const VIEWER: &str = "viewer-token-0123456789";
    const OPERATOR: &str = "operator-token-0123456789";
    let token = |name: &str, token: &str, role| TokenConfig {
        name: name.into(),
        token: token.into(),
        role,
        customer: None,
    };
    let cfg = GatewayConfig {
        tokens: vec![token("v", VIEWER, Role::Viewer), token("o", OPERATOR, Role::Operator)],
        ..Default::default()
    };
    // `syslog` is a catalog name of the default catalog; `secrets` is a path an operator tailed.
    let g = gateway(cfg).await;
    for i in 0..6 {
        let source = if i % 2 == 0 { "syslog" } else { "secrets" };
        g.put(&format!("logs.raw.h.{source}"), &format!("{source} {i}")).await;
    }
    let texts = |token: &'static str, query: &'static str| {
        let url = format!("{}/api/v1/logs/history?{query}&limit=100", g.base);
        async move {
            let r = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let page: serde_json::Value = r.json().await.unwrap();
            page["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["line"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let mut seen = texts(VIEWER, "subject=logs.raw.h.>").await;
    seen.sort();
    assert_eq!(seen, ["syslog 0", "syslog 2", "syslog 4"], "a viewer sees catalog files only");
    assert!(texts(VIEWER, "subject=logs.raw.h.secrets").await.is_empty(), "not even when it names one");
    assert!(texts(VIEWER, "subject=logs.raw.h.syslog&after=1&before=6")
        .await
        .iter()
        .all(|t| t.starts_with("syslog")));
    assert_eq!(texts(OPERATOR, "subject=logs.raw.h.>").await.len(), 6, "an operator sees every line");
    let r = reqwest::get(format!("{}/api/v1/logs/history?subject=logs.raw.h.>", g.base)).await.unwrap();
    assert_eq!(r.status(), 401, "no token, no history");
}
