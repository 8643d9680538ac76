//! Connecting from configuration: TLS with a private CA, mutual TLS, and clear errors.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use tailrace_nats::config::{NatsConfig, TlsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::{connect, ConnectError};

/// Writes ca.pem, server.pem/server-key.pem and client.pem/client-key.pem into `dir`.
fn pki(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    for name in ["server", "client"] {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
}

fn tls_cfg(dir: &Path, client_cert: bool) -> NatsConfig {
    let tls = TlsConfig {
        required: true,
        ca: Some(dir.join("ca.pem")),
        cert: client_cert.then(|| dir.join("client.pem")),
        key: client_cert.then(|| dir.join("client-key.pem")),
    };
    let mut cfg = NatsConfig { tls, ..Default::default() };
    cfg.reconnect.connect_timeout = Duration::from_secs(3);
    cfg
}

#[tokio::test]
async fn connects_over_mutual_tls_with_the_configured_ca_and_client_certificate() {
    let pki_dir = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let p = |f: &str| pki_dir.path().join(f).display().to_string();
    let server = TestServer::start_with(vec![
        "--tlsverify".into(),
        "--tlscert".into(),
        p("server.pem"),
        "--tlskey".into(),
        p("server-key.pem"),
        "--tlscacert".into(),
        p("ca.pem"),
    ])
    .await;

    let client = connect(&tls_cfg(pki_dir.path(), true), Some(&server.url()), "tls-test").await.unwrap();
    let mut sub = client.subscribe("ping").await.unwrap();
    client.publish("ping", "over tls".into()).await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut sub))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.payload.as_ref(), b"over tls");

    // The server verifies clients: without a certificate there is no connection.
    let err = connect(&tls_cfg(pki_dir.path(), false), Some(&server.url()), "tls-test").await.unwrap_err();
    assert!(matches!(err, ConnectError::Timeout { .. } | ConnectError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn half_a_client_certificate_and_a_missing_credentials_file_are_named() {
    let tls = TlsConfig { cert: Some("/tmp/c.pem".into()), ..Default::default() };
    let cfg = NatsConfig { tls, ..Default::default() };
    let err = connect(&cfg, Some("nats://127.0.0.1:1"), "t").await.unwrap_err();
    assert!(matches!(err, ConnectError::HalfClientCert), "{err}");

    let cfg = NatsConfig { credentials: Some("/nonexistent/tailrace.creds".into()), ..Default::default() };
    let err = connect(&cfg, Some("nats://127.0.0.1:1"), "t").await.unwrap_err().to_string();
    assert!(err.contains("/nonexistent/tailrace.creds"), "{err}");

    let err = connect(&NatsConfig::default(), None, "t").await.unwrap_err();
    assert!(matches!(err, ConnectError::NoUrl));
}

#[tokio::test]
async fn a_managed_server_off_loopback_serves_tls_and_its_clients_verify_it() {
    let pki_dir = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let data = tempfile::tempdir().unwrap();
    let cfg = tailrace_nats::config::ServerConfig {
        host: "0.0.0.0".into(),
        port: tailrace_nats::testing::free_port(),
        tls_cert: Some(pki_dir.path().join("server.pem")),
        tls_key: Some(pki_dir.path().join("server-key.pem")),
        max_store: Some(tailrace_nats::testing::STORE_LIMIT),
        ..Default::default()
    };
    let server = tailrace_nats::ManagedServer::start(&cfg, data.path()).await.unwrap();
    assert!(server.url().starts_with("tls://127.0.0.1:"), "{}", server.url());
    let base = tls_cfg(pki_dir.path(), false);
    let client = connect(&server.client_config(&base), None, "tls-managed").await.unwrap();
    client.flush().await.unwrap();
    // Subcommands find the same settings from the config and the data directory.
    let local = tailrace_nats::ManagedServer::local_client_config(&base, &cfg, data.path()).unwrap();
    connect(&local, None, "tls-managed-cli").await.unwrap().flush().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn half_a_user_and_password_is_named() {
    let cfg = NatsConfig { user: Some("u".into()), ..Default::default() };
    let err = connect(&cfg, Some("nats://127.0.0.1:1"), "t").await.unwrap_err();
    assert!(matches!(err, ConnectError::HalfUserPassword), "{err}");
}

#[tokio::test]
async fn several_servers_comma_separated_are_one_cluster_and_a_bad_one_is_named() {
    let cluster = tailrace_nats::testing::TestCluster::start().await;
    let client = connect(&NatsConfig::default(), Some(&cluster.urls()), "cluster").await.unwrap();
    client.flush().await.unwrap();
    let err =
        connect(&NatsConfig::default(), Some("nats://127.0.0.1:4222, nats://:x"), "t").await.unwrap_err();
    assert!(matches!(err, ConnectError::BadUrl { .. }), "{err}");
}
