//! The gateway's REST surface against a real nats-server: health, status, metrics, auth, limits.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tailrace_gateway::config::TokenConfig;
use tailrace_gateway::{app, AppState, GatewayConfig, Role};
use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::TestServer;
use tailrace_nats::topology::Topology;
use tower::ServiceExt;

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const CONTROLLER: &str = "controller-token-0123456789";

async fn gateway(server: &TestServer, tokens: bool) -> Router {
    let client = server.client().await;
    Topology::from_config(&StreamsConfig::default())
        .apply(&async_nats::jetstream::new(client.clone()))
        .await
        .unwrap();
    let mut cfg = GatewayConfig { max_body_bytes: 1024, ..Default::default() };
    if tokens {
        cfg.tokens = [
            ("v", VIEWER, Role::Viewer),
            ("o", OPERATOR, Role::Operator),
            ("c", CONTROLLER, Role::Controller),
        ]
        .into_iter()
        .map(|(name, token, role)| TokenConfig {
            name: name.into(),
            token: token.into(),
            role,
            customer: None,
        })
        .collect();
    }
    app(AppState::new(client, cfg, StreamsConfig::default()))
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Body,
) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes, headers)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn health_is_open_and_status_reports_the_broker_and_streams() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    let (status, body, _) = call(&app, "GET", "/health", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "ok");

    let (status, body, _) = call(&app, "GET", "/status", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let s = json(&body);
    assert_eq!(s["broker"]["connected"], true);
    let logs = s["streams"].as_array().unwrap().iter().find(|x| x["name"] == "LOGS").unwrap();
    assert_eq!(logs["subjects"][0], "logs.raw.>");
    assert_eq!(logs["messages"], 0);
}

#[tokio::test]
async fn status_counts_messages_and_consumers() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    let js = server.jetstream().await;
    js.publish("logs.raw.h.s", "x".into()).await.unwrap().await.unwrap();
    let stream = js.get_stream("LOGS").await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("classify".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, body, _) = call(&app, "GET", "/status", None, Body::empty()).await;
    let s = json(&body);
    let logs = s["streams"].as_array().unwrap().iter().find(|x| x["name"] == "LOGS").unwrap();
    assert_eq!(logs["messages"], 1);
    assert_eq!(logs["consumers"][0]["name"], "classify");
    assert_eq!(logs["consumers"][0]["pending"], 1);
    assert_eq!(logs["consumers"][0]["redelivered"], 0);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_stream_gauges_and_help_lines() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    call(&app, "GET", "/health", None, Body::empty()).await;
    let (status, body, headers) = call(&app, "GET", "/metrics", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(r#"tailrace_stream_messages{stream="LOGS"} 0"#), "{text}");
    assert!(text.contains("tailrace_broker_connected 1"), "{text}");
    assert!(
        text.contains(r#"tailrace_http_requests_total{route="/health",method="GET",status="200"}"#),
        "{text}"
    );
    // Every metric shown says what it is.
    for name in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
    {
        let family = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        assert!(text.contains(&format!("# HELP {family} ")), "{name} has no # HELP line:\n{text}");
    }
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_and_the_wrong_role_403() {
    let server = TestServer::start().await;
    let app = gateway(&server, true).await;

    let (status, body, headers) = call(&app, "GET", "/status", None, Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(json(&body)["error"], "unauthorized");
    assert_eq!(json(&body)["field"], "Authorization");

    let (status, _, _) = call(&app, "GET", "/status", Some("not-a-real-token-at-all"), Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _, _) = call(&app, "GET", "/status", Some(VIEWER), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body, _) = call(&app, "GET", "/status", Some(CONTROLLER), Body::empty()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["detail"], "the controller role may not read");

    let (status, body, _) = call(&app, "POST", "/api/v1/streams/apply", Some(VIEWER), Body::empty()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["detail"], "the viewer role may not control");
    assert_eq!(json(&body)["field"], "Authorization");

    let (status, body, _) = call(&app, "POST", "/api/v1/streams/apply", Some(OPERATOR), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let outcomes = json(&body);
    assert!(outcomes.as_array().unwrap().iter().all(|o| o["action"] == "unchanged"), "{outcomes}");

    // EventSource cannot send headers: the query parameter works too.
    let (status, _, _) =
        call(&app, "GET", &format!("/status?access_token={VIEWER}"), None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);

    // Health and pages stay open.
    assert_eq!(call(&app, "GET", "/health", None, Body::empty()).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/", None, Body::empty()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    let req = Request::post("/api/v1/streams/apply")
        .header(header::CONTENT_LENGTH, 4096)
        .body(Body::from(vec![b'x'; 4096]))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = json(&resp.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(body["field"], "body", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("max_body_bytes"), "{body}");
    let (status, _, _) = call(&app, "POST", "/api/v1/streams/apply", None, Body::from(vec![b'x'; 100])).await;
    assert_eq!(status, StatusCode::OK, "a body under the limit is fine");
}

#[tokio::test]
async fn the_page_shell_links_versioned_assets_that_are_served() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    let (status, body, _) = call(&app, "GET", "/", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(body).unwrap();
    let start = page.find("/assets/overview.js?v=").expect("overview script linked");
    let url = &page[start..page[start..].find('"').unwrap() + start];
    let (status, body, headers) = call(&app, "GET", url, None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    assert!(String::from_utf8(body).unwrap().contains("import { api"));
    let (status, _, headers) = call(&app, "GET", "/assets/app.js", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(call(&app, "GET", "/assets/nope.js", None, Body::empty()).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_client_error_is_json_naming_what_was_wrong() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    for (method, uri, field) in [
        ("GET", "/api/v1/stream?subject=logs.raw.%3E&from=abc", Some("from")),
        ("GET", "/api/v1/stream?from=3", Some("subject")),
        ("GET", "/api/v1/stream?subject=logs.raw.%FF", Some("subject")),
        ("GET", "/api/v1/stream?subject=logs.raw.%00", Some("subject")),
        ("GET", "/api/v1/stream?subject=logs.raw.a%1B", Some("subject")),
        ("GET", "/api/v1/stream?subject=logs.raw.%3E&from=1&since=2026-01-01T00:00:00Z", Some("since")),
        ("GET", "/api/v1/stream?subject=logs.raw.%3E&since=9999-12-31T00:00:00Z", Some("since")),
        ("GET", "/api/v1/stream?subject=logs.raw.%3E&%FF=1", Some("query")),
        ("GET", "/api/v1/tail/list?host=local&dir=/var/log/%00x", Some("dir")),
        ("GET", "/api/v1/tail/list?host=local", Some("dir")),
        ("GET", "/api/v1/tail/stream?host=local", Some("log_path")),
        ("GET", "/api/v1/nothing-here", None),
        ("DELETE", "/status", None),
    ] {
        let (status, body, headers) = call(&app, method, uri, None, Body::empty()).await;
        assert!(status.is_client_error(), "{method} {uri}: {status}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{method} {uri}");
        let body = json(&body);
        assert!(body["error"].is_string() && body["detail"].is_string(), "{uri}: {body}");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{method} {uri}: {body}");
        }
    }
}

#[tokio::test]
async fn every_host_a_request_names_must_be_ours() {
    let server = TestServer::start().await;
    let app = gateway(&server, false).await;
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status() }
    };
    let twice = Request::get("/status")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(twice).await, StatusCode::BAD_REQUEST, "a second Host header counts too");
    let absolute = Request::get("http://evil.example/status")
        .header(header::HOST, "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(absolute).await, StatusCode::BAD_REQUEST, "so does an absolute-form target");
    let fine = Request::get("/status").header(header::HOST, "localhost:8080").body(Body::empty()).unwrap();
    assert_eq!(send(fine).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_the_gateway_serves() {
    let server = TestServer::start_with_topology().await;
    let app = gateway(&server, false).await;
    let (status, body, _) = call(&app, "GET", "/api/v1/openapi.json", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/logs/history",
        "/api/v1/stream",
        "/api/v1/ws",
        "/api/v1/report",
        "/api/v1/openapi.json",
        "/",
    ] {
        assert!(paths.contains_key(path), "{path} is missing from the document");
    }
    assert_eq!(
        paths["/api/v1/logs"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post"].contains(&k.as_str()))
            .count(),
        2,
        "GET (synced files) and POST (an entry) of one path are both described"
    );
    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
    let mut operations = 0;
    let parameter = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (path, item) in paths {
        // `{name}` parameters get a sample value; the answer may be any status but "no route".
        let uri = parameter.replace_all(path, "sample").into_owned();
        for method in METHODS {
            let op = &item[method];
            let request = Request::builder().method(method.to_uppercase().as_str()).uri(&uri);
            let resp = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                app.clone().oneshot(request.body(Body::empty()).unwrap()),
            )
            .await
            .unwrap_or_else(|_| panic!("{method} {uri} did not answer"))
            .unwrap();
            let status = resp.status();
            if op.is_null() {
                // A method the document does not list is one the router does not route.
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not described"
                );
                continue;
            }
            operations += 1;
            assert!(op["summary"].is_string() && op["tags"].is_array(), "{method} {path}: {op}");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is described but not routed");
            if status == StatusCode::NOT_FOUND {
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&body).unwrap();
                assert!(
                    !body["detail"].as_str().unwrap_or_default().starts_with("no endpoint"),
                    "{method} {path} is described but not routed: {body}"
                );
            }
        }
    }
    assert!(operations >= 38, "{operations} operations");
}
