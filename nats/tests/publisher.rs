//! The publisher stores each data identity once and survives a broker restart.

use std::time::Duration;

use bytes::Bytes;
use tailrace_nats::config::{PublisherConfig, StreamsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::topology::Topology;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::Subject;

fn out(i: u64) -> Outgoing {
    Outgoing {
        subject: Subject::parse("logs.raw.h.s").unwrap(),
        payload: Bytes::from(format!("line {i}")),
        msg_id: format!("h/s/{i}"),
    }
}

#[tokio::test]
async fn the_same_msg_id_published_twice_is_stored_once() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let publisher = Publisher::new(client, PublisherConfig::default());
    Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();

    let first = publisher.publish_and_wait(out(1)).await.unwrap();
    let again = publisher.publish_and_wait(out(1)).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate, "second publish with the same id is reported as a duplicate");
    assert_eq!(again.sequence, first.sequence);
    publisher.publish_and_wait(out(2)).await.unwrap();

    let mut stream = publisher.jetstream().get_stream("LOGS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
}

#[tokio::test]
async fn publishing_to_a_subject_without_a_stream_fails_with_the_subject_named() {
    let server = TestServer::start().await;
    let cfg =
        PublisherConfig { max_attempts: 2, ack_timeout: Duration::from_millis(300), ..Default::default() };
    let publisher = Publisher::new(server.client().await, cfg);
    let err = publisher.publish_and_wait(out(1)).await.unwrap_err().to_string();
    assert!(err.contains("logs.raw.h.s"), "{err}");
}

#[tokio::test]
async fn in_flight_messages_are_bounded_and_all_acknowledged() {
    let server = TestServer::start().await;
    let cfg = PublisherConfig { max_in_flight: 8, ..Default::default() };
    let publisher = Publisher::new(server.client().await, cfg);
    Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..500 {
        handles.push(publisher.publish(out(i)).await);
    }
    publisher.flush().await;
    for h in handles {
        h.await.unwrap();
    }
    let mut stream = publisher.jetstream().get_stream("LOGS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 500);
}

#[tokio::test]
async fn long_payloads_are_stored_compressed_and_decode_to_what_was_sent() {
    use tailrace_schemas::{decode, encode, is_compressed, HostId, LogBatch, LogLine, SourceId, Timestamp};
    let server = TestServer::start().await;
    let publisher = Publisher::new(server.client().await, PublisherConfig::default());
    Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();
    let batch = |lines: u64| LogBatch {
        v: 1,
        host: HostId::new("h"),
        source: SourceId::new("s"),
        path: "/var/log/app.log".into(),
        file: None,
        generation: 0,
        lines: (0..lines)
            .map(|i| LogLine {
                offset: i * 40,
                text: format!("INFO request {i} served"),
                lossy: false,
                priority: None,
            })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    };
    let (long, short) = (batch(500), batch(2));
    for (b, id) in [(&long, "long"), (&short, "short")] {
        let out = Outgoing::encode(Subject::parse("logs.raw.h.s").unwrap(), b, id.to_owned()).unwrap();
        publisher.publish_and_wait(out).await.unwrap();
    }
    let stream = publisher.jetstream().get_stream("LOGS").await.unwrap();
    let stored_long = stream.get_raw_message(1).await.unwrap().payload;
    let stored_short = stream.get_raw_message(2).await.unwrap().payload;
    assert!(is_compressed(&stored_long), "a 500-line batch goes out as a zstd frame");
    assert!(stored_long.len() * 4 < encode(&long).unwrap().len(), "and is much shorter");
    assert!(!is_compressed(&stored_short), "a short payload stays plain MessagePack");
    assert_eq!(decode::<LogBatch>(&stored_long).unwrap(), long);
    assert_eq!(decode::<LogBatch>(&stored_short).unwrap(), short);
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let server = TestServer::start().await;
    let cfg = PublisherConfig { compress_from: 0, ..Default::default() };
    let publisher = Publisher::new(server.client().await, cfg);
    Topology::from_config(&StreamsConfig::default()).apply(publisher.jetstream()).await.unwrap();
    let payload = Bytes::from("INFO the same words again and again ".repeat(1000));
    let out = Outgoing {
        subject: Subject::parse("logs.raw.h.s").unwrap(),
        payload: payload.clone(),
        msg_id: "x".into(),
    };
    publisher.publish_and_wait(out).await.unwrap();
    let stream = publisher.jetstream().get_stream("LOGS").await.unwrap();
    assert_eq!(stream.get_raw_message(1).await.unwrap().payload, payload);
}
