//! Pages in a real headless Chromium against a real gateway and nats-server (and, for the
//! live-tail page, the tail producer and a real sshd).

mod support;

use std::time::Duration;

use tailrace_gateway::browser::Browser;
use tailrace_gateway::testing::serve;
use tailrace_gateway::{AppState, GatewayConfig};
use tailrace_nats::config::StreamsConfig;
use tailrace_nats::testing::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_page_shows_the_broker_and_live_stream_counts() {
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    for _ in 0..3 {
        js.publish("logs.raw.web-1.app", "line".into()).await.unwrap().await.unwrap();
    }

    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;

    let browser = Browser::start().await;
    browser.client.goto(&format!("{base}/")).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_page_shows_live_lines_highlights_errors_holds_lines_while_paused_stops_the_tail_and_scrolls_back_to_the_first_line(
) {
    use tailrace_producers::testing::{append_numbered, followers, until};
    let stack = support::Stack::start(Duration::from_millis(300)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 3);
    let append = |text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    let browser = Browser::start().await;
    let click = |id: &'static str| {
        let client = browser.client.clone();
        async move {
            client.execute(&format!("document.getElementById('{id}').click()"), vec![]).await.unwrap();
        }
    };
    const T: Duration = Duration::from_secs(20);
    let shown = "document.querySelectorAll('#log .ln').length";

    stack.look_again().await;
    browser
        .client
        .goto(&format!("{}/realtimelog?host={}&files=app&keep=5000", stack.base, support::HOST))
        .await
        .unwrap();
    browser.wait_for("document.querySelector('#files input[data-name=app]')?.checked", T).await;
    click("start").await;
    browser.wait_for("document.querySelector('#status [data-name=app][data-status=started]')", T).await;
    browser.wait_for(&format!("{shown} === 3"), T).await;

    append("E1122 10:00:00.000001 1234 boom.cc:12] replication failed\nW1122 10:00:01.000000 1234 x.cc:1] slow disk\n");
    let error = browser.wait_for("document.querySelector('#log .ln.error')?.textContent", T).await;
    assert!(error.as_str().unwrap().contains("replication failed"), "{error}");
    browser.wait_for("document.querySelector('#log .ln.warn')?.textContent.includes('slow disk')", T).await;

    click("pause").await;
    append_numbered(&path, 3, 13);
    browser.wait_for("document.getElementById('held').textContent.includes('10 held')", T).await;
    assert_eq!(
        browser.client.execute(&format!("return {shown}"), vec![]).await.unwrap(),
        5,
        "held, not shown"
    );
    click("pause").await;
    browser.wait_for(&format!("{shown} === 15"), T).await;

    browser
        .client
        .execute("const f = document.getElementById('filter'); f.value = 'REPLICATION'; f.dispatchEvent(new Event('input'))", vec![])
        .await
        .unwrap();
    let visible =
        "[...document.querySelectorAll('#log .ln')].filter(d => !d.classList.contains('hidden')).length";
    browser.wait_for(&format!("{visible} === 1"), T).await;
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("realtimelog.png")).await;
    }

    // A flood keeps at most 5,000 lines in the page, while counting every line received.
    browser
        .client
        .execute(
            "const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'))",
            vec![],
        )
        .await
        .unwrap();
    for chunk in 0..12 {
        append_numbered(&path, 100 + chunk * 1000, 1100 + chunk * 1000);
    }
    browser
        .wait_for("document.getElementById('counts').textContent.replace(/[^0-9a-z ]/g, '').startsWith('12015 received')", T)
        .await;
    browser.wait_for(&format!("{shown} === 5000"), T).await;

    assert_eq!(followers(&path), 1);
    click("stop").await;
    browser.wait_for("document.querySelector('#status [data-name=app][data-status=stopped]')", T).await;
    browser.wait_for("document.getElementById('start').disabled === false", T).await;
    until("the stop button ends the remote follower", || followers(&path) == 0).await;

    // Scrolling up brings back, from history, the lines the flood trimmed: the whole file.
    scroll_back_to_the_first_line(&browser).await;
    let file: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned).collect();
    assert_same_lines(&shown_lines(&browser).await, &file);
    browser.close().await;
    stack.stop().await;
}

/// Scrolls the log view to its top until the page says history has no older lines.
async fn scroll_back_to_the_first_line(browser: &Browser) {
    let shown = "document.querySelectorAll('#log .ln').length";
    for _ in 0..100 {
        if browser.client.execute("return document.getElementById('older').disabled", vec![]).await.unwrap()
            == true
        {
            return;
        }
        let before = browser.client.execute(&format!("return {shown}"), vec![]).await.unwrap();
        browser.client.execute("document.getElementById('log').scrollTop = 0", vec![]).await.unwrap();
        browser
            .wait_for(
                &format!("{shown} > {before} || document.getElementById('older').disabled"),
                Duration::from_secs(20),
            )
            .await;
    }
    panic!("history did not reach its first line in 100 pages");
}

async fn shown_lines(browser: &Browser) -> Vec<String> {
    let lines = browser
        .client
        .execute("return [...document.querySelectorAll('#log .ln')].map(d => d.dataset.line)", vec![])
        .await
        .unwrap();
    serde_json::from_value(lines).unwrap()
}

/// Equal lists, or a panic naming the first place they differ (not the whole of both).
fn assert_same_lines(shown: &[String], want: &[String]) {
    if let Some(i) = (0..shown.len().max(want.len())).find(|&i| shown.get(i) != want.get(i)) {
        panic!(
            "{} lines shown, {} expected; first difference at {i}: shown {:?}, expected {:?}",
            shown.len(),
            want.len(),
            &shown[i.saturating_sub(2)..(i + 3).min(shown.len())],
            &want[i.saturating_sub(2)..(i + 3).min(want.len())],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issues_page_lists_sorts_and_opens_an_issue_with_its_trend_and_live_link() {
    use tailrace_nats::Outgoing;
    use tailrace_schemas::{subject, Fingerprint, IssueOccurrence, Severity, StreamName, Timestamp};
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let (_dir, tables, ctx) = sink_context(&client);
    let publisher = ctx.publisher.clone();
    let cancel = tokio_util::sync::CancellationToken::new();
    let sink = tokio::spawn(tailrace_sinks::run(tailrace_sinks::issues::IssuesSink, ctx, cancel.clone()));
    for (i, (fp, count, hours_ago)) in
        [(1u64, 3u64, 0i64), (2, 40, 0), (2, 5, 3), (3, 7, 50)].into_iter().enumerate()
    {
        let at = Timestamp::now().saturating_add_nanos(-hours_ago * 3_600_000_000_000);
        let o = IssueOccurrence {
            v: 1,
            scope: "db".into(),
            fingerprint: Fingerprint(fp),
            severity: Severity::Error,
            message: format!("query {fp} failed after <*> ms"),
            count,
            first_seen: at,
            last_seen: at,
            sample: format!("query {fp} failed after 31 ms"),
            host: Some("db-1".into()),
            source: Some("postgres".into()),
            app: None,
            customer: None,
            reported_at: None,
        };
        publisher
            .publish_and_wait(Outgoing::encode(subject::issues(&o.scope), &o, format!("p/{i}")).unwrap())
            .await
            .unwrap();
    }
    let last = tailrace_nats::replay::last_sequence(publisher.jetstream(), StreamName::ISSUES).await.unwrap();
    while tables.applied("issues", StreamName::ISSUES).unwrap() < last {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = AppState::new(client, GatewayConfig::default(), StreamsConfig::default())
        .with_issues(tailrace_sinks::issues::IssuesView::new(&tables).unwrap());
    let base = tailrace_gateway::testing::serve(state).await;

    let browser = Browser::start().await;
    browser.client.goto(&format!("{base}/issues?window=24h")).await.unwrap();
    let rows = browser
        .wait_for(
            "(() => { const r = [...document.querySelectorAll('#issues tbody tr')]; return r.length === 2 ? r.map(t => t.querySelector('.window-count').textContent).join(',') : null; })()",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(rows, "45,3", "most occurrences in 24 h first; the 50 h old issue is outside the window");
    // All time, sorted by first seen: the old issue appears, newest first.
    browser.client.goto(&format!("{base}/issues?window=&sort=first_seen")).await.unwrap();
    let first = browser
        .wait_for(
            "(() => { const r = [...document.querySelectorAll('#issues tbody tr')]; return r.length === 3 ? r[2].dataset.fingerprint : null; })()",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(first, "0000000000000003");
    browser
        .client
        .execute("document.querySelector('tr[data-fingerprint=\"0000000000000002\"]').click()", vec![])
        .await
        .unwrap();
    let points = browser
        .wait_for(
            "document.querySelector('#trend canvas') && document.getElementById('trend').dataset.points",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(points, "2", "two hours with occurrences drawn");
    let live = browser
        .wait_for(
            "document.querySelector('#detail-where a.live')?.getAttribute('href')",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(live, "/realtimelog?host=db-1&files=postgres");
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("issues.png")).await;
    }
    browser.close().await;
    cancel.cancel();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_pages_show_apps_advice_chart_customers_and_speak_hungarian() {
    use tailrace_nats::Outgoing;
    use tailrace_schemas::{
        subject, AppReport, Fingerprint, IssueOccurrence, Severity, StreamName, Timestamp,
    };
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let (_dir, tables, ctx) = sink_context(&client);
    let publisher = ctx.publisher.clone();
    let cancel = tokio_util::sync::CancellationToken::new();
    let sinks = [
        tokio::spawn(tailrace_sinks::run(
            tailrace_sinks::telemetry::TelemetrySink,
            ctx.clone(),
            cancel.clone(),
        )),
        tokio::spawn(tailrace_sinks::run(tailrace_sinks::issues::IssuesSink, ctx, cancel.clone())),
    ];
    // Three customers of `shop` (the third near its limit), one of `api`; two reports each, 29 h apart.
    let mut n = 0;
    for (customer, app, peak, current, limit) in [
        ("c-0", "shop", 200.0, 150.0, "512M"),
        ("c-1", "shop", 220.0, 160.0, "512M"),
        ("c-2", "shop", 480.0, 500.0, "512M"),
        ("c-0", "api", 40.0, 30.0, "256M"),
    ] {
        for hours_ago in [1i64, 30] {
            let at = Timestamp::now().saturating_add_nanos(-hours_ago * 3_600_000_000_000);
            let r = tailrace_schemas::Report {
                v: 1,
                customer_id: customer.into(),
                reported_at: Some(at),
                controller_version: None,
                hostname: None,
                app_telemetry: vec![AppReport {
                    app_name: app.into(),
                    display_name: if app == "shop" { "Web shop".into() } else { "API".into() },
                    containers: vec![format!("{app}-1")],
                    memory_current_mb: current,
                    memory_avg_mb: peak / 2.0,
                    memory_peak_mb: peak,
                    cpu_avg_percent: 5.0,
                    catalog_estimate: "256M".into(),
                    catalog_limit: limit.into(),
                    log_errors: if app == "shop" { 2 } else { 0 },
                    log_warnings: 1,
                    issues: vec![],
                    oom_kills: None,
                    restarts: None,
                    sample_count: None,
                }],
            };
            let out = Outgoing::encode(subject::reports(&r.customer_id), &r, format!("t/{n}")).unwrap();
            publisher.publish_and_wait(out).await.unwrap();
            n += 1;
        }
    }
    let o = IssueOccurrence {
        v: 1,
        scope: "shop".into(),
        fingerprint: Fingerprint(7),
        severity: Severity::Error,
        message: "payment gateway timeout after <*> ms".into(),
        count: 4,
        first_seen: Timestamp::now(),
        last_seen: Timestamp::now(),
        sample: "payment gateway timeout after 3000 ms".into(),
        host: None,
        source: None,
        app: Some("shop".into()),
        customer: Some("c-1".into()),
        reported_at: Some(Timestamp::now()),
    };
    publisher
        .publish_and_wait(Outgoing::encode(subject::issues(&o.scope), &o, "i/0".into()).unwrap())
        .await
        .unwrap();
    let js = publisher.jetstream();
    for (sink, stream) in [("telemetry", StreamName::REPORTS), ("issues", StreamName::ISSUES)] {
        let last = tailrace_nats::replay::last_sequence(js, stream).await.unwrap();
        while tables.applied(sink, stream).unwrap() < last {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let state = AppState::new(client, GatewayConfig::default(), StreamsConfig::default())
        .with_issues(tailrace_sinks::issues::IssuesView::new(&tables).unwrap())
        .with_telemetry(tailrace_sinks::telemetry::TelemetryView::new(&tables).unwrap());
    let base = tailrace_gateway::testing::serve(state).await;
    let browser = Browser::start().await;
    let wait = |js: &'static str| browser.wait_for(js, Duration::from_secs(15));

    // /apps in Hungarian: the cards, the table with accuracy dots, the switch kept in the URL.
    browser.client.goto(&format!("{base}/apps?lang=hu&period=7d")).await.unwrap();
    assert_eq!(wait("document.querySelector('h1')?.textContent").await, "Alkalmazások");
    let rows = wait("(() => { const r = [...document.querySelectorAll('#apps tbody tr')]; return r.length === 2 ? r.map(t => t.dataset.app + ':' + t.querySelector('.dot').dataset.accuracy).join(',') : null; })()").await;
    assert_eq!(rows, "shop:yellow,api:green", "most deployments first; shop's P95 480 is over half of 512");
    assert_eq!(wait("document.getElementById('total-deployments').textContent").await, "4");
    assert_eq!(wait("document.querySelector('nav a[aria-current=page]').textContent").await, "Alkalmazások");
    browser.client.execute("document.querySelector('th[data-sort=memory]').click()", vec![]).await.unwrap();
    let sorted = wait(
        "location.search.includes('sort=memory') && document.querySelector('#apps tbody tr')?.dataset.app",
    )
    .await;
    assert_eq!(sorted, "shop", "by memory, descending");

    // /apps/shop: the advice, the chart with its limit line, customers, issues.
    browser.client.goto(&format!("{base}/apps/shop?lang=en")).await.unwrap();
    let suggested = wait("(() => { const s = document.getElementById('suggested').textContent; return s !== '–' ? s : null; })()").await;
    assert_eq!(suggested, "576M", "ceil(480 x 1.2) = 576 (P95 of six peaks is the max, 480)");
    assert!(wait("document.getElementById('advice').textContent || null")
        .await
        .as_str()
        .unwrap()
        .contains("3 deployments"));
    let points = wait("document.querySelector('#memory-chart canvas') && document.getElementById('memory-chart').dataset.points").await;
    assert_eq!(points, "2", "two hours with reports");
    assert_eq!(wait("(() => { const n = document.querySelectorAll('#customers tbody tr').length; return n ? n : null; })()").await, 3);
    assert_eq!(
        wait("document.querySelector('#issues tbody tr')?.dataset.fingerprint").await,
        Fingerprint(7).to_string()
    );
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("app.png")).await;
    }

    // The customers, and one customer's apps coloured against the limit.
    browser.client.goto(&format!("{base}/customers")).await.unwrap();
    assert_eq!(wait("(() => { const n = document.querySelectorAll('#customers tbody tr').length; return n ? n : null; })()").await, 3);
    assert_eq!(wait("document.querySelector('html').lang").await, "en", "the language switch is remembered");
    browser.client.goto(&format!("{base}/customers/c-2")).await.unwrap();
    let state = wait("document.querySelector('#customer-apps tbody td.mem-danger')?.textContent").await;
    assert_eq!(state, "500 MB", "500 of 512 MB is over 90 %");
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("customer.png")).await;
    }
    browser.close().await;
    cancel.cancel();
    for s in sinks {
        s.await.unwrap().unwrap();
    }
}

/// Tables in a scratch directory and a sink context on `client`, for a page's sinks.
fn sink_context(
    client: &async_nats::Client,
) -> (tempfile::TempDir, tailrace_sinks::Tables, tailrace_sinks::SinkContext) {
    let dir = tempfile::tempdir().unwrap();
    let tables = tailrace_sinks::Tables::open(&dir.path().join("sled")).unwrap();
    let ctx = tailrace_sinks::SinkContext {
        client: client.clone(),
        publisher: tailrace_nats::Publisher::new(client.clone(), Default::default()),
        consumer: Default::default(),
        tables: tables.clone(),
        retention: Default::default(),
    };
    (dir, tables, ctx)
}

/// A batch of ten numbered lines (`line 00010` …) of `host`/`app`, as a producer publishes it.
fn numbered_batch(host: &str, first: usize) -> bytes::Bytes {
    let batch = tailrace_schemas::LogBatch {
        v: 1,
        host: host.into(),
        source: "app".into(),
        path: "/var/log/app.log".into(),
        file: None,
        generation: 0,
        lines: (first..first + 10)
            .map(|n| tailrace_schemas::LogLine {
                offset: n as u64 * 11,
                text: format!("line {n:05}"),
                lossy: false,
                priority: None,
            })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: tailrace_schemas::Timestamp::now(),
    };
    tailrace_schemas::encode(&batch).unwrap().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_page_scrolls_back_into_history_with_no_gap_or_repeat_at_the_live_seam() {
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    // 1,000 lines stored before the page opens; another host's lines between them.
    for b in 0..100 {
        js.publish("logs.raw.web-1.app", numbered_batch("web-1", b * 10)).await.unwrap().await.unwrap();
        if b % 10 == 0 {
            js.publish("logs.raw.db-1.app", numbered_batch("db-1", 90_000 + b)).await.unwrap().await.unwrap();
        }
    }
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;

    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    browser.client.goto(&format!("{base}/subject?subject=logs.raw.web-1.%3E")).await.unwrap();
    // 500 more arrive while the page reads its first page of history and subscribes.
    let live = tokio::spawn(async move {
        for b in 100..150 {
            js.publish("logs.raw.web-1.app", numbered_batch("web-1", b * 10)).await.unwrap().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    browser.wait_for("document.getElementById('status').textContent.startsWith('live')", T).await;
    live.await.unwrap();
    let shown = "document.querySelectorAll('#log .ln').length";
    browser.wait_for(&format!("{shown} >= 700"), T).await;

    // Scrolling to the top loads the lines before the oldest shown, until the first.
    scroll_back_to_the_first_line(&browser).await;
    assert_same_lines(
        &shown_lines(&browser).await,
        &(0..1500).map(|n| format!("line {n:05}")).collect::<Vec<_>>(),
    );
    let status =
        browser.client.execute("return document.getElementById('history-status').textContent", vec![]).await;
    assert_eq!(status.unwrap(), "the beginning of the stored history");
    if let Ok(dir) = std::env::var("TAILRACE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("subject.png")).await;
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_page_reports_what_it_cannot_do_keeps_its_state_in_the_url_and_resumes_after_a_lost_connection(
) {
    use tailrace_producers::testing::append_numbered;
    let stack = support::Stack::start(Duration::from_millis(300)).await;
    let relay = support::Relay::start(&stack.base).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 3);
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    let js = |script: String| {
        let client = browser.client.clone();
        async move { client.execute(&script, vec![]).await.unwrap() }
    };
    let notice = "document.getElementById('notice').textContent";

    // A link naming a host nobody serves says so instead of showing another host.
    browser.client.goto(&format!("{}/realtimelog?host=nowhere", relay.base)).await.unwrap();
    browser.wait_for(&format!("{notice}.includes('no producer serves a host named nowhere')"), T).await;
    assert_eq!(js("return document.getElementById('host').value".into()).await, "");

    // A link with a catalog file, an unknown name, a typed path and a filter.
    let typed = stack.file("extra.log");
    append_numbered(&typed, 500, 501);
    let link = format!(
        "{}/realtimelog?host={}&files=app,nosuch&path=more%3D{}&filter=line",
        relay.base,
        support::HOST,
        typed.display()
    );
    stack.look_again().await;
    browser.client.goto(&link).await.unwrap();
    browser.wait_for(&format!("{notice}.includes('no file named nosuch')"), T).await;
    browser.wait_for("document.querySelector('#files input[data-name=app]')?.checked", T).await;
    // Only the catalog files the host has are offered; the others are named. A file that
    // appears is offered after "look again".
    assert_eq!(js("return document.querySelector('#files input[data-name=db]') === null".into()).await, true);
    assert_eq!(
        js("return document.getElementById('catalog-absent').textContent.includes('not on this host: db')"
            .into())
        .await,
        true
    );
    append_numbered(&stack.file("db.log"), 0, 1);
    js("document.getElementById('catalog-refresh').click()".into()).await;
    browser.wait_for("document.querySelector('#files input[data-name=db]') !== null", T).await;
    assert_eq!(
        js("return document.querySelector('#files input[data-name=app]').checked && document.querySelector('#files input[data-name=more]').checked".into()).await,
        true,
        "looking again keeps what was checked"
    );
    assert_eq!(
        js("return document.querySelector('#files input[data-name=more]').checked".into()).await,
        true
    );
    assert_eq!(js("return document.getElementById('filter').value".into()).await, "line");
    // Unchecking a file and adding another path leaves the first unchecked; the URL follows.
    js("document.querySelector('#files input[data-name=db]').click()".into()).await;
    js("document.querySelector('#files input[data-name=db]').click()".into()).await;
    js("document.getElementById('custom-path').value = '/etc/passwd'; document.getElementById('custom-name').value = 'pw'; document.getElementById('custom-add').click()".into()).await;
    assert_eq!(js("return document.querySelector('#files input[data-name=db]').checked".into()).await, false);
    let url = js("return location.search".into()).await;
    let url = url.as_str().unwrap();
    assert!(
        url.contains("files=app") && url.contains("path=pw%3D%2Fetc%2Fpasswd") && url.contains("filter=line"),
        "{url}"
    );
    assert!(!url.contains("nosuch"), "{url}");

    // Start: a path outside the host's roots is refused beside its name; the others run.
    js("document.getElementById('start').click()".into()).await;
    let refused = browser
        .wait_for("document.querySelector('#status [data-name=pw][data-status=error]')?.textContent", T)
        .await;
    assert!(refused.as_str().unwrap().contains("pw"), "{refused}");
    let shown = "document.querySelectorAll('#log .ln').length";
    browser.wait_for(&format!("{shown} === 4"), T).await;

    // The link fails and stays down while 20 lines are written; then it comes back.
    relay.refuse(true);
    relay.cut();
    browser.wait_for("document.getElementById('connection').textContent.includes('connection to the gateway was lost')", T).await;
    append_numbered(&path, 3, 23);
    let history =
        format!("{}/api/v1/logs/history?subject=logs.raw.{}.app&limit=1", stack.base, support::HOST);
    let last = tailrace_producers::testing::numbered_line(22);
    let deadline = tokio::time::Instant::now() + T;
    while !reqwest::get(&history).await.unwrap().text().await.unwrap().contains(&last) {
        assert!(tokio::time::Instant::now() < deadline, "the 20 lines were not stored within {T:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.refuse(false);
    let caught = browser
        .wait_for("document.getElementById('connection').textContent.includes('caught up') && document.getElementById('connection').textContent", T)
        .await;
    assert_eq!(caught, "reconnected; caught up 20 lines");
    browser.wait_for(&format!("{shown} === 24"), T).await;
    let lines = browser
        .client
        .execute("return [...document.querySelectorAll('#log .ln')].map(d => d.dataset.line)", vec![])
        .await
        .unwrap();
    let lines: Vec<String> = serde_json::from_value(lines).unwrap();
    let mut want = tailrace_producers::testing::numbered(0, 23);
    want.insert(3, tailrace_producers::testing::numbered_line(500));
    let mut got = lines.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every line once: {lines:?}");
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_link_opens_the_page_at_that_line_loading_older_lines_until_it_is_shown() {
    use tailrace_producers::testing::{append_numbered, numbered_line};
    let stack = support::Stack::start(Duration::from_millis(300)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 400);
    stack.look_again().await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    let page = format!("{}/realtimelog?host={}&files=app", stack.base, support::HOST);
    let status = "document.getElementById('history-status').textContent";
    start_tail(&browser, &page, T).await;
    browser.wait_for("document.querySelectorAll('#log .ln').length === 100", T).await;

    // The pointer over a line offers its link.
    let line = browser.run("const d = document.querySelector('#log .ln'); d.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); return d.dataset.line").await;
    assert_eq!(line, numbered_line(300), "the context is the last 100 lines");
    // (A scroll of the view, still settling after the context arrived, hides the button: the
    // pointer is moved over the line again until it shows.)
    browser
        .wait_for("(document.querySelector('#log .ln').dispatchEvent(new MouseEvent('mouseover', {bubbles: true})), !document.getElementById('log-line-link').hidden)", T)
        .await;
    browser.run("document.getElementById('log-line-link').click()").await;
    let said = browser.wait_for(&format!("{status}.includes('#L') && {status}"), T).await;
    let link = said.as_str().unwrap().split(": ").nth(1).unwrap().to_owned();
    assert!(link.starts_with(&page) && link.contains("#L"), "{link}");

    // 300 lines later the line is far older than a newcomer's context: opening the link loads
    // older lines until it is shown, and scrolls to it.
    append_numbered(&path, 400, 700);
    let history =
        format!("{}/api/v1/logs/history?subject=logs.raw.{}.app&limit=1", stack.base, support::HOST);
    let deadline = tokio::time::Instant::now() + T;
    while !reqwest::get(&history).await.unwrap().text().await.unwrap().contains(&numbered_line(699)) {
        assert!(tokio::time::Instant::now() < deadline, "the lines were not stored within {T:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start_tail(&browser, &link, T).await;
    let target = browser.wait_for("document.querySelector('#log .ln.target')?.dataset.line", T).await;
    assert_eq!(target, numbered_line(300));
    // On a loaded machine the newest lines may still be arriving when the line is shown: they
    // must not take the view back to the end.
    let shown = "[...document.querySelectorAll('#log .ln')].map(d => d.dataset.line)";
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let lines: Vec<String> =
            serde_json::from_value(browser.run(&format!("return {shown}")).await).unwrap();
        if lines.last() == Some(&numbered_line(699)) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let numbers: Vec<&str> = lines.iter().map(|l| &l[5..11]).collect();
            panic!("the newest line is not shown within {T:?}; the view holds {numbers:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_sight = browser.run("const v = document.getElementById('log').getBoundingClientRect(), d = document.querySelector('#log .ln.target').getBoundingClientRect(); return d.top >= v.top && d.bottom <= v.bottom").await;
    assert_eq!(in_sight, true, "the linked line is scrolled into the view");
    let lines: Vec<String> = serde_json::from_value(
        browser.run("return [...document.querySelectorAll('#log .ln')].map(d => d.dataset.line)").await,
    )
    .unwrap();
    let from = lines.iter().position(|l| *l == numbered_line(300)).unwrap();
    assert_eq!(
        lines[from..],
        tailrace_producers::testing::numbered(300, 700)[..],
        "no gap or repeat from it to the newest"
    );

    // A line the history does not hold is said so.
    start_tail(&browser, &format!("{page}#L999999999.0"), T).await;
    browser.wait_for(&format!("{status}.includes('is not in the stored history')"), T).await;
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_keeps_the_newest_100_000_lines_in_view_drawing_only_those_on_screen_and_download_all_saves_every_line(
) {
    use tailrace_producers::testing::append_numbered;
    let stack = support::Stack::start(Duration::from_millis(300)).await;
    let path = stack.file("app.log");
    append_numbered(&path, 0, 100);
    stack.look_again().await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(90);
    start_tail(&browser, &format!("{}/realtimelog?host={}&files=app", stack.base, support::HOST), T).await;
    browser.wait_for("document.querySelectorAll('#log .ln').length === 100", T).await;
    // More lines than the page keeps for Download (200,000) arrive live.
    append_numbered(&path, 100, 210_100);
    browser.wait_for("document.getElementById('counts').textContent.startsWith('210,100 received')", T).await;
    // The view holds the newest 100,000 lines, follows the newest, and the browser draws only
    // the blocks of lines on screen.
    let held = browser
        .run(
            "const v = document.getElementById('log'), l = document.querySelectorAll('#log .ln'), last = l[l.length - 1];
             const r = last.getBoundingClientRect(), vr = v.getBoundingClientRect();
             return [l.length, l[0].dataset.line.slice(5, 11), last.dataset.line.slice(5, 11),
                     r.top >= vr.top && r.bottom <= vr.bottom + 1,
                     [...l].filter((d) => d.checkVisibility({ contentVisibilityAuto: true })).length]",
        )
        .await;
    let held = held.as_array().unwrap();
    assert_eq!(
        held[..4],
        serde_json::json!([100_000, "110100", "210099", true]).as_array().unwrap()[..],
        "{held:?}"
    );
    let drawn = held[4].as_u64().unwrap();
    assert!(drawn <= 1_000, "{drawn} of 100,000 lines drawn: blocks off screen should be skipped");
    // Each saved file's lines: how many, and whether they are lines from..from+n in order.
    browser.run("window.saved = []; const make = URL.createObjectURL; URL.createObjectURL = (b) => { window.saved.push(b); return make(b); }").await;
    let check = |k: usize| {
        let client = browser.client.clone();
        async move {
            let script = format!(
                "const done = arguments[arguments.length - 1];
                 window.saved[{k}].text().then((t) => {{
                   const lines = t.split('\\n').filter(Boolean);
                   const first = Number(lines[0].slice(11, 17));
                   const ok = lines.every((l, i) => l.startsWith(`[app] line ${{String(first + i).padStart(6, '0')}} `));
                   done([lines.length, first, ok]);
                 }});"
            );
            client.execute_async(&script, vec![]).await.unwrap()
        }
    };
    browser.run("document.getElementById('download').click()").await;
    browser.wait_for("window.saved.length === 1", T).await;
    assert_eq!(
        check(0).await,
        serde_json::json!([200_000, 10_100, true]),
        "Download: the newest 200,000 received"
    );
    browser.run("document.getElementById('download-all').click()").await;
    let status = "document.getElementById('history-status').textContent";
    let said = browser.wait_for(&format!("!{status}.startsWith('downloading') && {status}"), T).await;
    assert!(said.as_str().unwrap().starts_with("downloaded"), "{said}");
    assert_eq!(
        check(1).await,
        serde_json::json!([210_100, 0, true]),
        "Download all: every line from the first reached, once, in order"
    );
    browser.close().await;
    stack.stop().await;
}

/// Opens the live-tail page at `url` (a link naming the file `app`), from a blank page so a
/// link differing only in its `#` loads anew, and presses Start once the file is checked.
async fn start_tail(browser: &Browser, url: &str, timeout: Duration) {
    browser.client.goto("about:blank").await.unwrap();
    browser.client.goto(url).await.unwrap();
    browser.wait_for("document.querySelector('#files input[data-name=app]')?.checked", timeout).await;
    browser.run("document.getElementById('start').click()").await;
}

/// A batch of `lines` of `host`/`app`.
fn batch_of(host: &str, lines: &[&str]) -> bytes::Bytes {
    let batch = tailrace_schemas::LogBatch {
        v: 1,
        host: host.into(),
        source: "app".into(),
        path: "/var/log/app.log".into(),
        file: None,
        generation: 0,
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, t)| tailrace_schemas::LogLine {
                offset: i as u64,
                text: (*t).to_owned(),
                lossy: false,
                priority: None,
            })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: tailrace_schemas::Timestamp::now(),
    };
    tailrace_schemas::encode(&batch).unwrap().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_viewer_filters_by_regex_and_level_jumps_between_errors_hides_a_source_and_counts_new_lines()
{
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    for (host, lines) in [
        ("web-1", vec!["INFO request 1 ok", "ERROR request 2 failed: timeout", "WARN request 3 slow"]),
        ("db-1", vec!["INFO checkpoint 7", "ERROR disk full on /data", "INFO checkpoint 8"]),
    ] {
        js.publish(format!("logs.raw.{host}.app"), batch_of(host, &lines)).await.unwrap().await.unwrap();
    }
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    browser.client.goto(&format!("{base}/subject?subject=logs.raw.%3E")).await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 6", T).await;
    let run = |script: &str| {
        let client = browser.client.clone();
        let script = script.to_owned();
        async move { client.execute(&script, vec![]).await.unwrap() }
    };
    let visible = "return [...document.querySelectorAll('#log .ln:not(.hidden)')].map(d => d.dataset.line)";
    let set = |id: &str, value: &str, event: &str| {
        format!("const e = document.getElementById('{id}'); e.value = {value:?}; e.dispatchEvent(new Event('{event}'))")
    };

    // Level: errors only, then warnings and above.
    run(&set("level", "error", "change")).await;
    assert_eq!(
        run(visible).await,
        serde_json::json!(["ERROR request 2 failed: timeout", "ERROR disk full on /data"])
    );
    run(&set("level", "warn", "change")).await;
    assert_eq!(run(visible).await.as_array().unwrap().len(), 3);
    run(&set("level", "", "change")).await;

    // A /regex/ filter marks its matches; an exclusion hides; a bad expression is flagged.
    run(&set("filter", "/request [12]/", "input")).await;
    assert_eq!(
        run(visible).await,
        serde_json::json!(["INFO request 1 ok", "ERROR request 2 failed: timeout"])
    );
    assert_eq!(run("return document.querySelectorAll('#log .ln:not(.hidden) mark').length").await, 2);
    run(&set("exclude", "ok", "input")).await;
    assert_eq!(run(visible).await, serde_json::json!(["ERROR request 2 failed: timeout"]));
    run(&set("filter", "/request [/", "input")).await;
    assert_eq!(run("return document.getElementById('filter').classList.contains('invalid')").await, true);
    run(&set("filter", "", "input")).await;
    run(&set("exclude", "", "input")).await;

    // Hide a source by its label, then show one alone.
    run("document.querySelector('#log .ln[data-name=\"web-1/app\"] .src').click()").await;
    assert_eq!(run(visible).await.as_array().unwrap().len(), 3, "web-1 hidden");
    assert!(run("return document.getElementById('hidden-names').textContent")
        .await
        .as_str()
        .unwrap()
        .contains("web-1/app"));
    run("document.querySelector('#hidden-names button').click()").await;
    run("document.querySelector('#log .ln[data-name=\"web-1/app\"] .src').dispatchEvent(new MouseEvent('click', {bubbles: true, shiftKey: true}))").await;
    assert_eq!(
        run(visible).await,
        serde_json::json!(["INFO request 1 ok", "ERROR request 2 failed: timeout", "WARN request 3 slow"]),
        "web-1 alone"
    );
    run("document.querySelector('#hidden-names button').click()").await;

    // Errors one after the other (keys n and p), wrap (key w), numbers and times.
    let key = |k: &str| format!("document.dispatchEvent(new KeyboardEvent('keydown', {{key: {k:?}}}))");
    run(&key("n")).await;
    assert_eq!(
        run("return document.querySelector('#log .ln.current')?.dataset.line").await,
        "ERROR request 2 failed: timeout"
    );
    run(&key("n")).await;
    assert_eq!(
        run("return document.querySelector('#log .ln.current')?.dataset.line").await,
        "ERROR disk full on /data"
    );
    run(&key("p")).await;
    assert_eq!(
        run("return document.querySelector('#log .ln.current')?.dataset.line").await,
        "ERROR request 2 failed: timeout"
    );
    run(&key("w")).await;
    assert_eq!(run("return document.getElementById('log').classList.contains('nowrap')").await, true);
    run("document.getElementById('numbers').click(); document.getElementById('times').click()").await;
    let gutter = run("return getComputedStyle(document.querySelector('#log .ln'), '::before').content").await;
    assert!(gutter.as_str().unwrap().contains(':'), "a number and a time: {gutter}");
    // Split (key s): a column per source, each packed from the top; off again, one column.
    let layout = r#"const boxes = (n) => [...document.querySelectorAll(`#log .ln[data-name="${n}"]`)].map(d => d.getBoundingClientRect());
        const [web, db] = [boxes('web-1/app'), boxes('db-1/app')];
        return [web.every(b => b.left === web[0].left), db.every(b => b.left === db[0].left), web[0].left < db[0].left, web[0].top === db[0].top]"#;
    assert_eq!(
        run(layout).await,
        serde_json::json!([true, true, false, false]),
        "one column: db-1 below web-1"
    );
    run(&key("s")).await;
    assert_eq!(
        run(layout).await,
        serde_json::json!([true, true, true, true]),
        "split: side by side from the top"
    );
    run(&key("s")).await;
    assert_eq!(run("return document.getElementById('log').classList.contains('split')").await, false);
    run(&key("/")).await;
    assert_eq!(run("return document.activeElement.id").await, "filter");
    run("document.activeElement.blur()").await;

    // Reading above the end: new lines are counted on a button, which follows them.
    let many: Vec<String> = (0..200).map(|i| format!("INFO filler {i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let js2 = async_nats::jetstream::new(server.client().await);
    js2.publish("logs.raw.web-1.app", batch_of("web-1", &refs)).await.unwrap().await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 206", T).await;
    run("document.getElementById('log').scrollTop = 0").await;
    js2.publish("logs.raw.web-1.app", batch_of("web-1", &["INFO late 1", "INFO late 2", "INFO late 3"]))
        .await
        .unwrap()
        .await
        .unwrap();
    let marker = browser.wait_for("document.getElementById('log-new-lines').hidden === false && document.getElementById('log-new-lines').textContent", T).await;
    assert_eq!(marker, "3 new lines ↓");
    run("document.getElementById('log-new-lines').click()").await;
    browser.wait_for("document.getElementById('log-new-lines').hidden", T).await;

    // Times: received, and the time a line states (read in the shapes the file index reads).
    let stated = [
        "2026-12-05T10:00:01.250Z INFO iso",
        "[05/Dec/2026:10:00:02 +0000] GET /",
        "Dec  5 10:00:03 web-1 cron[7]: syslog",
        "I1205 10:00:04.500 glog",
        "no time here",
    ];
    js2.publish("logs.raw.web-1.app", batch_of("web-1", &stated)).await.unwrap().await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 214", T).await;
    let gutters = run("return [...document.querySelectorAll('#log .ln')].slice(-5).map(d => getComputedStyle(d, '::before').content)").await;
    let gutters: Vec<String> = serde_json::from_value(gutters).unwrap();
    // (Minutes and seconds do not depend on the browser's zone.)
    for (gutter, want) in gutters.iter().zip([":00:01.250", ":00:02.000", ":00:03.000", ":00:04.500"]) {
        assert!(gutter.contains(" → ") && gutter.contains(want), "{gutter} should state {want}");
    }
    assert!(!gutters[4].contains('→'), "a line stating no time shows only its receive time: {}", gutters[4]);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_trace_shows_as_one_collapsible_event_under_its_first_line() {
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    browser.client.goto(&format!("{base}/subject?subject=logs.raw.%3E")).await.unwrap();
    browser.wait_for("document.getElementById('status').textContent.startsWith('live')", T).await;
    let lines = [
        "2026-12-05 10:00:01 ERROR [main] jobs - job 1 failed",
        "Traceback (most recent call last):",
        "  File \"a.py\", line 3, in run",
        "    step()",
        "ValueError: bad input",
        "2026-12-05 10:00:02 INFO [main] jobs - retrying",
    ];
    js.publish("logs.raw.web-1.app", batch_of("web-1", &lines)).await.unwrap().await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 2", T).await;
    let run = |script: &str| {
        let client = browser.client.clone();
        let script = script.to_owned();
        async move { client.execute(&script, vec![]).await.unwrap() }
    };
    let event = "document.querySelector('#log .ln.event')";
    assert_eq!(
        run(&format!("return {event}.classList.contains('error')")).await,
        true,
        "the first line's severity"
    );
    assert_eq!(run(&format!("return {event}.dataset.line")).await, lines[0]);
    assert_eq!(
        run(&format!("return [...{event}.querySelectorAll('.cont > div')].map(d => d.textContent)")).await,
        serde_json::json!(lines[1..5])
    );
    run(&format!("{event}.querySelector('.fold').click()")).await;
    assert_eq!(
        run(&format!("return getComputedStyle({event}.querySelector('.cont')).display")).await,
        "none"
    );
    // A filter matching a line of the trace keeps the whole event.
    run("const f = document.getElementById('filter'); f.value = 'ValueError'; f.dispatchEvent(new Event('input'))").await;
    assert_eq!(
        run("return [...document.querySelectorAll('#log .ln:not(.hidden)')].map(d => d.dataset.line)").await,
        serde_json::json!([lines[0]])
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_offered_on_the_live_tail_page_and_its_lines_take_their_severity_from_its_priorities() {
    let stack = support::Stack::start_with_journal(Duration::from_secs(10)).await;
    let journald = stack.journald.as_ref().unwrap();
    for (message, priority) in
        [("disk is failing", "2"), ("almost full", "4"), ("ERROR is only a word here", "6")]
    {
        journald.send(&[("MESSAGE", message), ("PRIORITY", priority), ("SYSLOG_IDENTIFIER", "app")]);
    }
    tailrace_producers::testing::until("journald stored the entries", || journald.count("app") == 3).await;
    stack.look_again().await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    browser
        .client
        .goto(&format!("{}/realtimelog?host={}&files=journal", stack.base, support::HOST))
        .await
        .unwrap();
    browser.wait_for("document.querySelector('#files input[data-name=journal]')?.checked", T).await;
    browser.run("document.getElementById('start').click()").await;
    browser.wait_for("document.querySelectorAll('#log .ln').length === 3", T).await;
    let classes = browser
        .run("return [...document.querySelectorAll('#log .ln')].map(d => [d.dataset.line.split(']: ')[1], d.className])")
        .await;
    assert_eq!(
        classes,
        serde_json::json!([
            ["disk is failing", "ln error"],
            ["almost full", "ln warn"],
            ["ERROR is only a word here", "ln"]
        ])
    );
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_view_fills_the_window_below_its_controls_with_no_second_scrollbar_at_any_size() {
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let lines: Vec<String> = (0..300).map(|i| format!("INFO line {i}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    js.publish("logs.raw.web-1.app", batch_of("web-1", &refs)).await.unwrap().await.unwrap();
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    for page in ["subject?subject=logs.raw.%3E", "realtimelog"] {
        browser.client.goto(&format!("{base}/{page}")).await.unwrap();
        browser.wait_for("document.getElementById('log') && document.readyState === 'complete'", T).await;
        if page.starts_with("subject") {
            browser.wait_for("document.querySelectorAll('#log .ln').length === 200", T).await;
        }
        for (width, height) in [(1280, 900), (1280, 480), (1280, 1400), (760, 600), (760, 360)] {
            browser.client.set_window_size(width, height).await.unwrap();
            // (A resize is laid out by the next frame.)
            tokio::time::sleep(Duration::from_millis(300)).await;
            let state = browser
                .run(
                    "const v = document.getElementById('log'), d = document.scrollingElement;
                     const r = v.getBoundingClientRect();
                     return [d.scrollHeight, innerHeight, Math.round(r.bottom), v.clientHeight]",
                )
                .await;
            let [page_height, window, view_bottom, view_height] =
                serde_json::from_value::<[f64; 4]>(state.clone()).unwrap();
            let ok = page_height <= window && view_bottom <= window && view_height > 40.0;
            assert!(
                ok,
                "{page} at {width}x{height}: [page height, window, view bottom, view height] {state}"
            );
        }
        browser.client.set_window_size(1280, 900).await.unwrap();
    }
    // The view scrolls on its own.
    browser.client.goto(&format!("{base}/subject?subject=logs.raw.%3E")).await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 200", T).await;
    let scrolls = browser.run("const v = document.getElementById('log'); return v.scrollHeight > v.clientHeight && v.scrollTop > 0").await;
    assert_eq!(scrolls, true, "the view follows its newest line in a scroll of its own");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwrapped_long_line_in_a_block_off_the_end_scrolls_sideways_instead_of_being_cut() {
    let server = TestServer::start_with_topology().await;
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let long = format!("INFO long {}", "x".repeat(3000));
    let mut lines: Vec<String> = (0..600).map(|i| format!("INFO line {i}")).collect();
    lines[10] = long.clone();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let base = serve(AppState::new(client, GatewayConfig::default(), StreamsConfig::default())).await;
    let browser = Browser::start().await;
    const T: Duration = Duration::from_secs(20);
    browser.client.goto(&format!("{base}/subject?subject=logs.raw.%3E")).await.unwrap();
    browser.wait_for("document.getElementById('status').textContent.startsWith('live')", T).await;
    js.publish("logs.raw.web-1.app", batch_of("web-1", &refs)).await.unwrap().await.unwrap();
    browser.wait_for("document.querySelectorAll('#log .ln').length === 600", T).await;
    // Wrap off (key w); the long line sits in the first of three blocks, not the newest.
    browser.run("document.dispatchEvent(new KeyboardEvent('keydown', { key: 'w' }))").await;
    browser.run("document.getElementById('log').scrollTop = 0").await;
    let widths = browser
        .wait_for(
            "(() => { const v = document.getElementById('log');
               return v.classList.contains('nowrap') && v.scrollWidth > v.clientWidth + 1000 ? [v.scrollWidth, v.clientWidth] : false; })()",
            T,
        )
        .await;
    assert!(widths.is_array(), "{widths}");
    browser.close().await;
}
