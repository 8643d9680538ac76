//! Live-tail benchmarks against a real sshd on loopback and a real nats-server, each beside a
//! comparison measured in the same run (see BENCHMARKS.md for figures and how to read them).
//!
//! ```sh
//! cargo bench --bench live_tail -- latency     # append → SSE client, beside `ssh host tail -F`
//! cargo bench --bench live_tail -- throughput  # lines/s of one tail, beside `ssh host cat`
//! cargo bench --bench live_tail -- fanout      # 10,000 SSE clients of one subject at 100 lines/s
//! cargo bench --bench live_tail -- tails       # 100 concurrent tails in one producer process
//! ```
//! With no argument, all four run. Sizes can be changed with environment variables named in
//! each section. Progress goes to stderr; the Markdown tables to stdout.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tailrace_gateway::testing::SseReader;
use tailrace_gateway::{AppState, GatewayConfig};
use tailrace_nats::config::{PublisherConfig, StreamsConfig};
use tailrace_nats::testing::TestServer;
use tailrace_nats::Publisher;
use tailrace_producers::tail::{run_tail, Roots, TailConfig, TailEnd, TailSpec, Transport};
use tailrace_producers::testing::{readable_dir, TestSshd};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const LINE_BYTES: usize = 200;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wall_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A 200-byte line (with its newline) carrying a sequence number and the wall-clock nanos it was
/// written at: `L{seq:010} T{nanos:020} xxx…`.
fn line(seq: u64, nanos: u64) -> String {
    let head = format!("L{seq:010} T{nanos:020} ");
    format!("{head}{}\n", "x".repeat(LINE_BYTES - head.len() - 1))
}

/// The write time a line carries, if it is one of ours.
fn written_at(text: &str) -> Option<u64> {
    let i = text.find(" T")?;
    text.get(i + 2..i + 22)?.parse().ok()
}

#[derive(Debug, Default, Clone)]
struct Latencies(Arc<Mutex<Vec<u64>>>);

impl Latencies {
    fn record(&self, text: &str) {
        if let Some(t) = written_at(text) {
            let now = wall_nanos();
            self.0.lock().unwrap().push(now.saturating_sub(t) / 1000);
        }
    }
    fn push(&self, micros: u64) {
        self.0.lock().unwrap().push(micros);
    }
    /// Every latency of several lists together.
    fn merged(all: &[Latencies]) -> Self {
        let merged = Latencies::default();
        for l in all {
            merged.0.lock().unwrap().extend_from_slice(&l.0.lock().unwrap());
        }
        merged
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    /// (p50, p99, max) in milliseconds.
    fn summary(&self) -> (f64, f64, f64) {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_unstable();
        if v.is_empty() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0;
        (at(0.50), at(0.99), *v.last().unwrap() as f64 / 1000.0)
    }
}

struct World {
    nats: TestServer,
    client: async_nats::Client,
    sshd: TestSshd,
    files: tempfile::TempDir,
    publisher: Publisher,
}

impl World {
    async fn new() -> Self {
        eprintln!("starting nats-server and sshd …");
        let nats = TestServer::start_with_topology().await;
        let client = nats.client().await;
        let publisher = Publisher::new(client.clone(), PublisherConfig::default());
        let sshd = TestSshd::start().await;
        let files = readable_dir("tailrace-bench-");
        Self { nats, client, sshd, files, publisher }
    }

    fn file(&self, name: &str) -> PathBuf {
        let p = self.files.path().join(name);
        std::fs::write(&p, b"").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        p
    }

    fn tail(&self, source: &str, path: &Path) -> (CancellationToken, tokio::task::JoinHandle<TailEnd>) {
        let spec = TailSpec { host: "bench".into(), source: source.into(), path: path.display().to_string() };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_tail(
            spec,
            Transport::ssh(self.sshd.host_config("bench")),
            Roots::new([self.files.path().display().to_string()]),
            TailConfig { last_lines: 0, ..Default::default() },
            self.publisher.clone(),
            cancel.clone(),
        ));
        (cancel, task)
    }

    /// OpenSSH's own client running `command` on the test sshd.
    fn openssh(&self, command: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ssh");
        c.arg("-p")
            .arg(self.sshd.port.to_string())
            .arg("-i")
            .arg(self.sshd.dir().join("user_key"))
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.sshd.known_hosts().display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
            .arg(format!("{}@127.0.0.1", self.sshd.user))
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        c
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !f() {
        if Instant::now() > deadline {
            eprintln!("  … gave up waiting for {what}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Writes `rate` lines/s for `seconds`, in ticks of 1 ms (≥ 1,000 lines/s) or one line per
/// tick; returns the number of lines written.
async fn write_at(path: &Path, rate: u64, seconds: u64, first_seq: u64) -> u64 {
    let (tick, per_tick) = if rate >= 1000 {
        (Duration::from_millis(1), rate / 1000)
    } else {
        (Duration::from_micros(1_000_000 / rate), 1)
    };
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = rate * seconds;
    let mut seq = first_seq;
    while seq < first_seq + total {
        interval.tick().await;
        let now = wall_nanos();
        let text: String = (0..per_tick).map(|i| line(seq + i, now)).collect();
        append(path, &text);
        seq += per_tick;
    }
    total
}

async fn latency(w: &World, gateway: &str) {
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "100,10000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds = env_num("BENCH_SECONDS", 10);
    println!("\n### Latency: append → SSE client, beside `ssh host tail -F` ({seconds} s per rate)\n");
    println!("| lines/s | lines | tailrace → SSE p50 ms | p99 ms | max ms | (at NATS p50 / p99) | (at hub p50 / p99) | OpenSSH tail -F p50 ms | p99 ms | max ms | p99 tailrace / OpenSSH |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for rate in rates {
        eprintln!("latency at {rate} lines/s …");
        let source = format!("lat{rate}");
        let path = w.file(&format!("{source}.log"));
        let (cancel, task) = w.tail(&source, &path);
        let ours = Latencies::default();
        let mut sse =
            SseReader::open(&format!("{gateway}/api/v1/stream?subject=logs.raw.bench.{source}"), None).await;
        let sse_task = tokio::spawn({
            let ours = ours.clone();
            async move {
                loop {
                    let e = sse.next().await;
                    let v = e.json();
                    for l in v["payload"]["lines"].as_array().into_iter().flatten() {
                        ours.record(l["text"].as_str().unwrap_or_default());
                    }
                }
            }
        });
        // The same lines as they reach NATS (before the gateway), to split the path in two.
        let at_nats = Latencies::default();
        let mut nats_sub = w.client.subscribe(format!("logs.raw.bench.{source}")).await.unwrap();
        let nats_task = tokio::spawn({
            let at_nats = at_nats.clone();
            async move {
                while let Some(m) = nats_sub.next().await {
                    if let Ok(b) = tailrace_schemas::decode::<tailrace_schemas::LogBatch>(&m.payload) {
                        for l in &b.lines {
                            at_nats.record(&l.text);
                        }
                    }
                }
            }
        });
        // And as the gateway's hub sees them (JetStream push consumer), before HTTP.
        let at_hub = Latencies::default();
        let hub = tailrace_gateway::stream::Hub::new(
            w.publisher.jetstream().clone(),
            4096,
            tailrace_gateway::stream::Linger::NEVER,
            tailrace_gateway::GatewayConfig::default().max_line_bytes,
        );
        let mut hub_items = tailrace_gateway::stream::follow(
            hub,
            tailrace_schemas::StreamName::LOGS,
            format!("logs.raw.bench.{source}"),
            tailrace_gateway::stream::Start::Live,
        );
        let hub_task = tokio::spawn({
            let at_hub = at_hub.clone();
            async move {
                while let Some(tailrace_gateway::stream::StreamItem::Event(e)) = hub_items.next().await {
                    for l in e.payload["lines"].as_array().into_iter().flatten() {
                        at_hub.record(l["text"].as_str().unwrap_or_default());
                    }
                }
            }
        });
        let theirs = Latencies::default();
        let mut ssh = w.openssh(&format!("exec tail -F -n 0 {}", path.display())).spawn().unwrap();
        let ssh_task = tokio::spawn({
            let theirs = theirs.clone();
            let out = ssh.stdout.take().unwrap();
            async move {
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    theirs.record(&l);
                }
            }
        });
        // Warm up: both readers see lines before measuring.
        let mut seq = 0;
        let ready = wait_until("both readers to see lines", Duration::from_secs(20), || {
            append(&path, &line(seq, wall_nanos()));
            seq += 1;
            ours.len() > 0 && theirs.len() > 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        ours.clear();
        theirs.clear();
        at_nats.clear();
        at_hub.clear();
        let total = write_at(&path, rate, seconds, 1_000_000).await as usize;
        wait_until("every line at both readers", Duration::from_secs(10), || {
            ours.len() >= total && theirs.len() >= total
        })
        .await;
        let (a50, a99, amax) = ours.summary();
        let (b50, b99, bmax) = theirs.summary();
        let (n50, n99, _) = at_nats.summary();
        let (h50, h99, _) = at_hub.summary();
        println!(
            "| {rate} | {total} | {a50:.1} | {a99:.1} | {amax:.1} | {n50:.1} / {n99:.1} | {h50:.1} / {h99:.1} | {b50:.1} | {b99:.1} | {bmax:.1} | {:.2} |",
            a99 / b99
        );
        if !ready || ours.len() < total || theirs.len() < total {
            println!(
                "\n(received: tailrace {} of {total}, OpenSSH {} of {total})\n",
                ours.len(),
                theirs.len()
            );
        }
        sse_task.abort();
        ssh_task.abort();
        nats_task.abort();
        hub_task.abort();
        let _ = ssh.kill().await;
        cancel.cancel();
        let _ = task.await;
    }
}

async fn throughput(w: &World) {
    let lines = env_num("BENCH_LINES", 1_000_000);
    println!("\n### One tail's throughput: {lines} lines of {LINE_BYTES} bytes, beside `ssh host cat` of the same file\n");
    eprintln!("throughput: {lines} lines …");
    let path = w.file("tp.log");
    let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut sub = w.client.subscribe("logs.raw.bench.tp").await.unwrap();
    let counter = tokio::spawn({
        let counted = counted.clone();
        async move {
            while let Some(m) = sub.next().await {
                if let Ok(b) = tailrace_schemas::decode::<tailrace_schemas::LogBatch>(&m.payload) {
                    counted.fetch_add(b.lines.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    let (cancel, task) = w.tail("tp", &path);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    let chunk = 5000;
    let mut seq = 0;
    let mut last_report = Instant::now();
    while seq < lines {
        let n = chunk.min(lines - seq);
        let text: String = (seq..seq + n).map(|s| line(s, 0)).collect();
        append(&path, &text);
        seq += n;
        // Keep the writer just ahead of the reader, as a busy service would: never more than
        // 64 MiB unread, so this measures the tail, not the page cache.
        while seq.saturating_sub(counted.load(std::sync::atomic::Ordering::Relaxed))
            > (64 << 20) / LINE_BYTES as u64
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            eprintln!("  … {} lines delivered", counted.load(std::sync::atomic::Ordering::Relaxed));
            last_report = Instant::now();
        }
    }
    wait_until("every line delivered", Duration::from_secs(120), || {
        counted.load(std::sync::atomic::Ordering::Relaxed) >= lines
    })
    .await;
    let ours = start.elapsed();
    cancel.cancel();
    let _ = task.await;
    counter.abort();

    eprintln!("  … now OpenSSH cat of the same {} MB", lines * LINE_BYTES as u64 / 1_000_000);
    let start = Instant::now();
    let mut cat = w.openssh(&format!("exec cat {}", path.display())).spawn().unwrap();
    let mut out = cat.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = out.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    let theirs = start.elapsed();
    let _ = cat.wait().await;
    let ours_rate = lines as f64 / ours.as_secs_f64();
    let theirs_rate = (bytes / LINE_BYTES as u64) as f64 / theirs.as_secs_f64();
    println!("| what | lines | seconds | lines/s | MB/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| tailrace tail → LOGS stream (counted at a NATS subscriber) | {lines} | {:.2} | {ours_rate:.0} | {:.1} |",
        ours.as_secs_f64(),
        ours_rate * LINE_BYTES as f64 / 1e6
    );
    println!(
        "| `ssh host cat` → /dev/null | {} | {:.2} | {theirs_rate:.0} | {:.1} |",
        bytes / LINE_BYTES as u64,
        theirs.as_secs_f64(),
        theirs_rate * LINE_BYTES as f64 / 1e6
    );
    println!("\ntailrace / OpenSSH cat: {:.2}", ours_rate / theirs_rate);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A raw SSE client: one socket, scans `data:` lines for the write time, records latency in
/// its own list (no lock shared between clients, so 10,000 clients measure the server, not a
/// contended mutex) and counts deliveries in one shared counter.
async fn sse_client(
    addr: std::net::SocketAddr,
    subject: String,
    lat: Latencies,
    delivered: Arc<std::sync::atomic::AtomicUsize>,
    connected: Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let Ok(mut sock) = tokio::net::TcpStream::connect(addr).await else { return };
    let req = format!(
        "GET /api/v1/stream?subject={subject} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if sock.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = Vec::with_capacity(16 << 10);
    let mut headers_seen = false;
    loop {
        let start = buf.len();
        buf.resize(start + (8 << 10), 0);
        let n = match sock.read(&mut buf[start..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.truncate(start + n);
        let now = wall_nanos();
        if !headers_seen {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            headers_seen = true;
            connected.fetch_add(1, Relaxed);
            buf.drain(..end + 4);
        }
        let mut consumed = 0;
        let mut got = 0;
        while let Some(i) = buf[consumed..].iter().position(|&b| b == b'\n') {
            let line = &buf[consumed..consumed + i];
            if line.starts_with(b"data:") {
                if let Some(t) = std::str::from_utf8(line).ok().and_then(written_at) {
                    lat.push(now.saturating_sub(t) / 1000);
                    got += 1;
                }
            }
            consumed += i + 1;
        }
        buf.drain(..consumed);
        delivered.fetch_add(got, Relaxed);
    }
}

async fn fanout(w: &World) {
    let clients = env_num("BENCH_CLIENTS", 10_000);
    let rate = env_num("BENCH_FANOUT_RATE", 100);
    let seconds = env_num("BENCH_SECONDS", 10);
    println!("\n### {clients} SSE clients of one subject at {rate} lines/s for {seconds} s, server in its own process\n");
    println!("| server | clients | events sent | deliveries | delivered p50 ms | p99 ms | max ms | clients cut off | server CPU s | clients CPU s | RSS: 1 client | all clients | while streaming | per client |");
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let port = tailrace_nats::testing::free_port();
    let baseline = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["baseline-server", &w.nats.url(), &port.to_string()])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    fanout_against("plain axum + broadcast (baseline)", baseline, port, w, clients, rate, seconds).await;
    // The gateway as configured by default (events gathered for 50 ms above 2,000 clients), and
    // with gathering off, to show what it buys.
    for (name, linger_above) in
        [("tailrace gateway", None), ("tailrace gateway, no gathering", Some("1000000000"))]
    {
        let port = tailrace_nats::testing::free_port();
        let data = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tailrace"));
        cmd.arg("run").env_remove("TAILRACE_CONFIG").envs([
            ("TAILRACE_NATS__URL", w.nats.url()),
            ("TAILRACE_DATA_DIR", data.path().display().to_string()),
            ("TAILRACE_GATEWAY__BIND", format!("127.0.0.1:{port}")),
            ("TAILRACE_TAIL__SERVE_LOCAL", "false".to_owned()),
            ("TAILRACE_LOG__LEVEL", "warn".to_owned()),
            // The gateway alone: processors in the same process would classify the bench's
            // lines and their memory would be counted as the clients'.
            ("TAILRACE_PROCESSORS__RUN", "[]".to_owned()),
        ]);
        if let Some(above) = linger_above {
            cmd.env("TAILRACE_GATEWAY__FANOUT_LINGER_ABOVE", above);
        }
        let gateway = cmd.stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true).spawn().unwrap();
        fanout_against(name, gateway, port, w, clients, rate, seconds).await;
    }
}

/// What a hand-written SSE fan-out looks like with axum: one core NATS subscription, each
/// message rendered to JSON once and sent to every client through a tokio broadcast channel,
/// with keep-alives (as the gateway has).
async fn baseline_server(nats_url: String, port: u16) {
    use axum::response::sse::{Event, Sse};
    let client = async_nats::connect(nats_url).await.unwrap();
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<String>>(1024);
    let mut sub = client.subscribe("logs.raw.bench.fan").await.unwrap();
    let sender = tx.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let batch: tailrace_schemas::LogBatch = tailrace_schemas::decode(&m.payload).unwrap();
            let _ = sender.send(Arc::new(serde_json::to_string(&batch).unwrap()));
        }
    });
    let app = axum::Router::new().route(
        "/api/v1/stream",
        axum::routing::get(move || {
            let rx = tx.subscribe();
            async move {
                let events = futures::stream::unfold(rx, |mut rx| async move {
                    let json = rx.recv().await.ok()?;
                    Some((Ok::<_, std::convert::Infallible>(Event::default().data(json.as_str())), rx))
                });
                Sse::new(events).keep_alive(axum::response::sse::KeepAlive::default())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    // Plain axum with TCP_NODELAY, as one would write it (no write timeout, nothing else of ours).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.unwrap();
}

async fn fanout_against(
    name: &str,
    mut server: tokio::process::Child,
    port: u16,
    w: &World,
    clients: u64,
    rate: u64,
    seconds: u64,
) {
    let pid = server.id().unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_until("the gateway to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(addr).is_ok()
    })
    .await;
    let subject = "logs.raw.bench.fan".to_owned();
    let delivered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let connected = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut lats = vec![Latencies::default()];
    let client = |lat: &Latencies| {
        tokio::spawn(sse_client(addr, subject.clone(), lat.clone(), delivered.clone(), connected.clone()))
    };
    // One client first, so the shared subscription and its buffers exist before the baseline.
    let mut tasks = vec![client(&lats[0])];
    wait_until("the first client", Duration::from_secs(10), || {
        connected.load(std::sync::atomic::Ordering::Relaxed) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    eprintln!("fanout ({name}): RSS {before} KiB with one client; connecting {clients} …");
    for i in 1..clients {
        lats.push(Latencies::default());
        tasks.push(client(&lats[lats.len() - 1]));
        if i % 500 == 0 {
            wait_until("a batch of clients", Duration::from_secs(30), || {
                connected.load(std::sync::atomic::Ordering::Relaxed) >= i
            })
            .await;
            eprintln!("  … {i} connected");
        }
    }
    wait_until("every client", Duration::from_secs(60), || {
        connected.load(std::sync::atomic::Ordering::Relaxed) >= clients
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    let connected_n = connected.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("  … RSS {after} KiB with {connected_n} clients; publishing …");

    let js = async_nats::jetstream::new(w.client.clone());
    let (server_cpu, clients_cpu) = (cpu_seconds_of(pid), cpu_seconds());
    let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let total = rate * seconds;
    for seq in 0..total {
        interval.tick().await;
        let batch = tailrace_schemas::LogBatch {
            v: 1,
            host: "bench".into(),
            source: "fan".into(),
            path: "/bench".into(),
            file: None,
            generation: 0,
            lines: vec![tailrace_schemas::LogLine {
                offset: seq,
                text: line(seq, wall_nanos()).trim_end().to_owned(),
                lossy: false,
                priority: None,
            }],
            next_offset: None,
            cursor: None,
            cursor_lines: None,
            read_at: tailrace_schemas::Timestamp::now(),
        };
        js.publish(subject.clone(), tailrace_schemas::encode(&batch).unwrap().into()).await.unwrap();
    }
    let expected = (total * connected_n) as usize;
    wait_until("every delivery", Duration::from_secs(30), || {
        delivered.load(std::sync::atomic::Ordering::Relaxed) >= expected
    })
    .await;
    let during = rss_kib(pid);
    let (server_cpu, clients_cpu) = (cpu_seconds_of(pid) - server_cpu, cpu_seconds() - clients_cpu);
    let lat = Latencies::merged(&lats);
    let (p50, p99, max) = lat.summary();
    let still = tasks.iter().filter(|t| !t.is_finished()).count();
    println!(
        "| {name} | {connected_n} | {total} | {} of {expected} | {p50:.1} | {p99:.1} | {max:.1} | {} | {server_cpu:.1} | {clients_cpu:.1} | {before} KiB | {after} KiB | {during} KiB | {:.1} KiB |",
        lat.len(),
        connected_n as usize - still,
        (after.saturating_sub(before)) as f64 / connected_n.max(1) as f64
    );
    for t in tasks {
        t.abort();
    }
    let _ = server.kill().await;
}

async fn tails(w: &World) {
    let n = env_num("BENCH_TAILS", 100);
    let rate = env_num("BENCH_TAIL_RATE", 10);
    let seconds = env_num("BENCH_SECONDS", 10);
    println!(
        "\n### {n} concurrent tails in one producer process, {rate} lines/s each, beside one tail alone\n"
    );
    println!("| tails | lines | delivered | to NATS p50 ms | p99 ms | max ms | producer CPU % | producer RSS MiB |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for count in [1, n] {
        eprintln!("{count} tails …");
        let lat = Latencies::default();
        let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let mut sub = w.client.subscribe("logs.raw.bench.>").await.unwrap();
        let recorder = tokio::spawn({
            let lat = lat.clone();
            let seen = seen.clone();
            async move {
                while let Some(m) = sub.next().await {
                    if let Ok(b) = tailrace_schemas::decode::<tailrace_schemas::LogBatch>(&m.payload) {
                        seen.lock().unwrap().insert(b.source.as_str().to_owned());
                        for l in &b.lines {
                            lat.record(&l.text);
                        }
                    }
                }
            }
        });
        let mut running = Vec::new();
        let mut paths = Vec::new();
        for i in 0..count {
            let source = format!("c{count}-{i}");
            let path = w.file(&format!("{source}.log"));
            running.push(w.tail(&source, &path));
            paths.push(path);
        }
        // Every tail is up when a line written to each has arrived (a tail starting fresh
        // begins at the end of its file, so warm-up lines are written until each shows up).
        let started = Instant::now();
        let mut round = 0;
        wait_until("every tail to deliver", Duration::from_secs(120), || {
            if round % 10 == 0 {
                for p in &paths {
                    append(p, &line(0, wall_nanos()));
                }
            }
            round += 1;
            seen.lock().unwrap().len() >= count as usize
        })
        .await;
        eprintln!("  … {count} tails up in {:.1} s", started.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(500)).await;
        lat.clear();
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        for seq in 0..rate * seconds {
            interval.tick().await;
            let now = wall_nanos();
            for p in &paths {
                append(p, &line(seq, now));
            }
        }
        let total = (rate * seconds * count) as usize;
        wait_until("every line", Duration::from_secs(30), || lat.len() >= total).await;
        let cpu = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
        let rss = rss_kib(std::process::id()) as f64 / 1024.0;
        let (p50, p99, max) = lat.summary();
        println!(
            "| {count} | {total} | {} | {p50:.1} | {p99:.1} | {max:.1} | {cpu:.0} | {rss:.0} |",
            lat.len()
        );
        for (cancel, task) in running {
            cancel.cancel();
            let _ = task.await;
        }
        recorder.abort();
    }
    println!("\n(CPU and RSS are of the whole bench process: producer, publisher and the NATS client that measures; sshd and the followers run in other processes.)");
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    cpu_seconds_of(std::process::id())
}

/// CPU seconds process `pid` has used (user + system).
fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("baseline-server") {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(baseline_server(args[2].clone(), args[3].parse().unwrap()));
        return;
    }
    let which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all = which.is_empty();
    let wants = |w: &str| all || which.iter().any(|a| a == w);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let w = World::new().await;
        if wants("latency") {
            let state = AppState::new(w.client.clone(), GatewayConfig::default(), StreamsConfig::default());
            let gateway = tailrace_gateway::testing::serve(state).await;
            latency(&w, &gateway).await;
        }
        if wants("throughput") {
            throughput(&w).await;
        }
        if wants("fanout") {
            fanout(&w).await;
        }
        if wants("tails") {
            tails(&w).await;
        }
    });
}
