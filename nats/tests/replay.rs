//! Reading a stream from a start: sequences, times, the last N of a filter, past the end.

use std::time::Duration;

use futures::StreamExt;
use tailrace_nats::replay::{check, history, ordered, Checked, Start};
use tailrace_nats::testing::TestServer;
use tailrace_schemas::{StreamName, Timestamp};

/// Publishes `n` messages alternating between two subjects; returns their sequences.
async fn fill(js: &async_nats::jetstream::Context, n: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for i in 0..n {
        let subject = if i % 2 == 0 { "logs.raw.h.even" } else { "logs.raw.h.odd" };
        seqs.push(js.publish(subject, format!("{i}").into()).await.unwrap().await.unwrap().sequence);
    }
    seqs
}

async fn payloads(js: &async_nats::jetstream::Context, filter: &str, start: Start) -> Vec<String> {
    let items: Vec<_> = history(js, StreamName::LOGS, filter, start).await.unwrap().collect().await;
    items.into_iter().map(|m| String::from_utf8(m.unwrap().payload.to_vec()).unwrap()).collect()
}

#[tokio::test]
async fn history_reads_from_a_sequence_a_time_or_the_last_n_of_a_filter_until_caught_up() {
    let server = TestServer::start_with_topology().await;
    let js = server.jetstream().await;
    let seqs = fill(&js, 10).await;
    let middle = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    fill(&js, 4).await; // 10..14 again as payloads 0..4

    let all = payloads(&js, "logs.raw.>", Start::Sequence(seqs[5])).await;
    assert_eq!(all, ["5", "6", "7", "8", "9", "0", "1", "2", "3"]);
    assert_eq!(payloads(&js, "logs.raw.>", Start::Time(middle)).await, ["0", "1", "2", "3"]);
    // The last three of one subject, across a window that has to be widened.
    assert_eq!(payloads(&js, "logs.raw.h.odd", Start::Last(3)).await, ["9", "1", "3"]);
    assert_eq!(payloads(&js, "logs.raw.h.even", Start::Last(100)).await.len(), 7, "all there are");
    assert!(payloads(&js, "logs.raw.>", Start::Live).await.is_empty());
    assert!(payloads(&js, "logs.raw.nobody", Start::Last(5)).await.is_empty());
}

#[tokio::test]
async fn a_start_past_the_end_is_told_apart() {
    let server = TestServer::start_with_topology().await;
    let js = server.jetstream().await;
    let last = *fill(&js, 3).await.last().unwrap();
    assert_eq!(
        check(&js, StreamName::LOGS, Start::Sequence(last + 1)).await.unwrap(),
        Checked::Valid(Start::Sequence(last + 1))
    );
    assert_eq!(
        check(&js, StreamName::LOGS, Start::Sequence(1_000_000)).await.unwrap(),
        Checked::PastEnd { seq: 1_000_000, last }
    );
}

#[tokio::test]
async fn an_ordered_consumer_from_the_last_n_continues_live() {
    let server = TestServer::start_with_topology().await;
    let js = server.jetstream().await;
    fill(&js, 6).await;
    let mut live = ordered(&js, StreamName::LOGS, "logs.raw.>", Start::Last(2)).await.unwrap();
    js.publish("logs.raw.h.even", "new".into()).await.unwrap().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let m = tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap().unwrap().unwrap();
        got.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    assert_eq!(got, ["4", "5", "new"]);
}
