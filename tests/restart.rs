//! `tailrace run` killed with -9 and started again at once, as systemd's `Restart=` would: the
//! managed nats-server dies with its parent, the next start never shares the store or the
//! port with a server that is still going, and no acknowledged line is lost or doubled.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::binary::{alive, exited, signal, stop, Setup};
use tailrace_nats::config::PublisherConfig;
use tailrace_nats::server::store_lock::servers_on;
use tailrace_nats::{Outgoing, Publisher};
use tailrace_schemas::{decode, subject, ClassifiedBatch, HostId, LogBatch, LogLine, SourceId, Timestamp};

const READY: Duration = Duration::from_secs(60);

fn line(n: u64) -> LogBatch {
    LogBatch {
        v: 1,
        host: HostId::new("fault-host"),
        source: SourceId::new("numbered"),
        path: "/var/log/numbered.log".into(),
        file: None,
        generation: 0,
        lines: vec![LogLine {
            offset: n,
            text: format!("ERROR numbered line {n}"),
            lossy: false,
            priority: None,
        }],
        next_offset: Some(n + 1),
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    }
}

/// Publishes lines `range` with a window of acks in flight; returns how many were acknowledged.
async fn publish_numbered(publisher: Publisher, range: std::ops::Range<u64>) -> u64 {
    let mut pending = std::collections::VecDeque::new();
    let mut acked = 0;
    for n in range {
        let b = line(n);
        let out = Outgoing::encode(subject::logs_raw(&b.host, &b.source), &b, b.dedup_id()).unwrap();
        pending.push_back(publisher.publish(out).await);
        if pending.len() >= 64 {
            acked += u64::from(pending.pop_front().unwrap().await.is_ok());
        }
    }
    for h in pending {
        acked += u64::from(h.await.is_ok());
    }
    acked
}

fn publisher(client: async_nats::Client) -> Publisher {
    // Patient: the server is away for as long as a restart takes.
    Publisher::new(
        client,
        PublisherConfig {
            ack_timeout: Duration::from_millis(500),
            max_attempts: 400,
            max_in_flight: 256,
            ..Default::default()
        },
    )
}

/// How many times each line number is stored in `stream` (LOGS: one line per batch;
/// CLASSIFIED: the lines of every batch).
async fn counts(client: &async_nats::Client, stream: &str) -> BTreeMap<u64, u32> {
    let js = async_nats::jetstream::new(client.clone());
    let mut counts = BTreeMap::new();
    for m in tailrace_nats::testing::stored(&js, stream).await {
        let offsets: Vec<u64> = if stream == "LOGS" {
            decode::<LogBatch>(&m.payload).unwrap().lines.iter().map(|l| l.offset).collect()
        } else {
            decode::<ClassifiedBatch>(&m.payload).unwrap().lines.iter().map(|l| l.offset).collect()
        };
        for o in offsets {
            *counts.entry(o).or_insert(0) += 1;
        }
    }
    counts
}

/// Lost and doubled line numbers among `0..n`.
fn lost_and_doubled(counts: &BTreeMap<u64, u32>, n: u64) -> (Vec<u64>, Vec<u64>) {
    let lost = (0..n).filter(|i| !counts.contains_key(i)).collect();
    let doubled = counts.iter().filter(|(_, c)| **c > 1).map(|(i, _)| *i).collect();
    (lost, doubled)
}

/// Waits until classify has nothing pending, then counts CLASSIFIED.
async fn classified_counts(client: &async_nats::Client, n: u64) -> BTreeMap<u64, u32> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = counts(client, "CLASSIFIED").await;
        if counts.len() as u64 >= n || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lines `0..n` are each in LOGS once, and (once classify has caught up) in CLASSIFIED once.
async fn assert_each_line_stored_once(client: &async_nats::Client, n: u64) {
    let (lost, doubled) = lost_and_doubled(&counts(client, "LOGS").await, n);
    assert!(lost.is_empty() && doubled.is_empty(), "LOGS: lost {lost:?}, doubled {doubled:?}");
    let (lost, doubled) = lost_and_doubled(&classified_counts(client, n).await, n);
    assert!(lost.is_empty() && doubled.is_empty(), "CLASSIFIED: lost {lost:?}, doubled {doubled:?}");
}

/// A cheap pseudo-random sequence (xorshift), seeded from the clock and printed, so a failing
/// run can be told apart from another.
struct Moments(u64);

impl Moments {
    fn new() -> Self {
        let seed = Timestamp::now().as_nanos() as u64 | 1;
        eprintln!("kill moments seed: {seed}");
        Self(seed)
    }

    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % max
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managed_server_dies_with_its_parent() {
    let setup = Setup::new("");
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, READY).await;
    let servers = servers_on(&setup.store());
    assert_eq!(servers.len(), 1, "one managed server on the store: {servers:?}");
    signal(&run, Signal::SIGKILL);
    exited(&mut run, Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(servers[0]) {
        assert!(Instant::now() < deadline, "nats-server {} outlived its parent by 15 s", servers[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_run_and_an_immediate_restart_lose_no_acknowledged_line() {
    const N: u64 = 6000;
    let setup = Setup::new("");
    let mut first = setup.spawn();
    setup.wait_ready(&mut first, READY).await;

    // Numbered lines with acks, while tailrace is killed and started again under them.
    let client = setup.client().await;
    let producer = tokio::spawn(publish_numbered(publisher(client.clone()), 0..N));
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(&first, Signal::SIGKILL);
    exited(&mut first, Duration::from_secs(5)).await;
    let mut second = setup.spawn();
    setup.wait_ready(&mut second, READY).await;
    let acked = tokio::time::timeout(Duration::from_secs(180), producer).await.unwrap().unwrap();
    assert_eq!(acked, N, "every line was eventually acknowledged");

    // Stop both (the first is gone already, with its server); nothing may stay on the store.
    stop(&mut second).await;
    assert!(servers_on(&setup.store()).is_empty(), "a nats-server outlived `tailrace run`");
    drop(client);

    let mut third = setup.spawn();
    setup.wait_ready(&mut third, READY).await;
    assert_each_line_stored_once(&setup.client().await, N).await;
    let log = setup.log();
    assert!(!log.contains("no message cache"), "a second server opened the store:\n{log}");
    stop(&mut third).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kill_9_at_random_moments_loses_and_doubles_nothing() {
    const ROUNDS: u64 = 4;
    const PER_ROUND: u64 = 1500;
    let setup = Setup::new("");
    let mut moments = Moments::new();
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, READY).await;
    let client = setup.client().await;
    let mut producers = Vec::new();
    for round in 0..ROUNDS {
        let range = round * PER_ROUND..(round + 1) * PER_ROUND;
        producers.push(tokio::spawn(publish_numbered(publisher(client.clone()), range)));
        // Anywhere from start-up (processors still attaching) to mid-publish.
        tokio::time::sleep(Duration::from_millis(moments.next_ms(1500))).await;
        signal(&run, Signal::SIGKILL);
        exited(&mut run, Duration::from_secs(5)).await;
        run = setup.spawn();
        if moments.next_ms(2) == 0 {
            // Sometimes killed again while it is still starting (stopping the orphan).
            tokio::time::sleep(Duration::from_millis(moments.next_ms(300))).await;
            signal(&run, Signal::SIGKILL);
            exited(&mut run, Duration::from_secs(5)).await;
            run = setup.spawn();
        }
        setup.wait_ready(&mut run, READY).await;
    }
    let mut acked = 0;
    for p in producers {
        acked += tokio::time::timeout(Duration::from_secs(180), p).await.unwrap().unwrap();
    }
    assert_eq!(acked, ROUNDS * PER_ROUND, "every line was eventually acknowledged");
    stop(&mut run).await;
    assert!(servers_on(&setup.store()).is_empty(), "a nats-server outlived `tailrace run`");
    drop(client);

    let mut last = setup.spawn();
    setup.wait_ready(&mut last, READY).await;
    assert_each_line_stored_once(&setup.client().await, ROUNDS * PER_ROUND).await;
    stop(&mut last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tail_works_again_after_the_managed_server_is_killed() {
    let setup = Setup::new("");
    let file = setup.dir.path().join("app.log");
    tailrace_producers::testing::append_numbered(&file, 0, 5);
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, READY).await;

    // The broker dies under a running tailrace; its supervisor starts it again on the same store.
    let old = servers_on(&setup.store());
    assert_eq!(old.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old[0] as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while servers_on(&setup.store()).iter().all(|p| old.contains(p)) {
        assert!(Instant::now() < deadline, "the managed server was not restarted within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The memory-backed tail-hosts bucket is put back without anyone running `streams apply`,
    // and a tail started now streams the file.
    let catalog = format!("{}/api/v1/tail/catalog", setup.base());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reqwest::get(&catalog).await.unwrap();
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        if status == 200 && body["hosts"].as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "catalog still {status} {body} 30 s after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = format!("{}/api/v1/tail/stream?host=local&path={}", setup.base(), file.display());
    let mut sse = tailrace_gateway::testing::SseReader::open(&url, None).await;
    assert_eq!(sse.status, 200);
    let mut lines = Vec::new();
    while lines.len() < 5 {
        lines.push(sse.next_named("log").await.json()["line"].as_str().unwrap().to_owned());
    }
    assert_eq!(lines, tailrace_producers::testing::numbered(0, 5));
    let log = setup.log();
    assert!(log.contains("topology applied again after a reconnect"), "{log}");
    stop(&mut run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_run_while_it_follows_a_journal_loses_and_doubles_no_entry() {
    use tailrace_producers::testing::{numbered_line, until, TestJournald};
    const N: usize = 3000;
    let journald = TestJournald::start().await;
    let path = journald.path("SYSLOG_IDENTIFIER=app");
    let setup = Setup::with_allow(
        &[&journald.path("")],
        &format!("[[tail.pinned]]\nhost = \"local\"\nsource = \"journal-app\"\npath = \"{path}\"\n"),
    );
    let mut run = setup.spawn();
    setup.wait_ready(&mut run, READY).await;
    let (host, source) = (HostId::from("local"), SourceId::from("journal-app"));
    // The first entry is stored before the rest are written: the pinned tail is running.
    journald.send_numbered("app", 0, 1);
    let client = setup.client().await;
    let js = async_nats::jetstream::new(client.clone());
    tailrace_producers::testing::stored_lines(&js, &host, &source, 1).await;

    let writer = {
        let socket = format!("/run/systemd/journal.{}/socket", journald.namespace);
        std::thread::spawn(move || {
            let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
            for i in 1..N {
                let datagram = format!("MESSAGE={}\nPRIORITY=6\nSYSLOG_IDENTIFIER=app\n", numbered_line(i));
                s.send_to(datagram.as_bytes(), &socket).unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(60));
                }
            }
        })
    };
    // Killed twice while entries arrive, started again at once each time.
    for pause in [500, 700] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        signal(&run, Signal::SIGKILL);
        exited(&mut run, Duration::from_secs(5)).await;
        run = setup.spawn();
        setup.wait_ready(&mut run, READY).await;
    }
    writer.join().unwrap();
    until("journald stored every entry", || journald.count("app") == N).await;
    let client = setup.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let lines = tailrace_producers::testing::stored_lines(&js, &host, &source, N).await;
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for l in &lines {
        *counts.entry(l.split_once("]: ").map_or(l.as_str(), |(_, m)| m).to_owned()).or_default() += 1;
    }
    let lost: Vec<usize> = (0..N).filter(|&i| !counts.contains_key(&numbered_line(i))).collect();
    let doubled: Vec<&String> = counts.iter().filter(|(_, &c)| c > 1).map(|(l, _)| l).collect();
    assert!(
        lost.is_empty() && doubled.is_empty() && lines.len() == N,
        "lost {lost:?}, doubled {doubled:?}, {} lines",
        lines.len()
    );
    stop(&mut run).await;
    // The journalctl of each killed run ended with it (its input closed), none left behind.
    until("no journalctl outlives the runs that started it", || journald.followers() == 0).await;
}
