//! Pages in a real headless Chromium against a real gateway and nats-server.

use std::time::Duration;

use tailrace_gateway::browser::Browser;
use tailrace_gateway::{app, AppState, GatewayConfig};
use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::topology::Topology;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_page_shows_the_broker_and_live_stream_counts() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    Topology::from_config(&StreamsConfig::default()).apply(&js).await.unwrap();
    for _ in 0..3 {
        js.publish("logs.raw.web-1.app", "line".into()).await.unwrap().await.unwrap();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(client, GatewayConfig::default(), StreamsConfig::default()));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let browser = Browser::start().await;
    browser.client.goto(&format!("http://{addr}/")).await.unwrap();
    let broker =
        browser.wait_for("document.querySelector('#broker.ok')?.textContent", Duration::from_secs(15)).await;
    assert!(broker.as_str().unwrap().contains("connected to"), "{broker}");
    let logs_count = browser
        .wait_for(
            "document.querySelector('tr[data-stream=LOGS] td.num')?.textContent",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(logs_count, "3");
    let nav = browser
        .wait_for("document.querySelector('nav a[aria-current=page]')?.textContent", Duration::from_secs(5))
        .await;
    assert_eq!(nav, "Overview");
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("overview.png")).await;
    }
    browser.close().await;
}
