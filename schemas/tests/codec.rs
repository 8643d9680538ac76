//! The wire contract: every payload round-trips through MessagePack and JSON, older versions and
//! unknown fields decode, and a bad payload is refused with the field named.

use proptest::prelude::*;
use tailrace_schemas::*;

fn ts() -> impl Strategy<Value = Timestamp> {
    // RFC 3339 covers years 0..=9999; stay well inside.
    (-2_000_000_000i64..4_000_000_000i64, 0i64..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::from_nanos(s * 1_000_000_000 + n))
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn log_batch() -> impl Strategy<Value = LogBatch> {
    (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        proptest::option::of((any::<u64>(), any::<u64>())),
        prop::collection::vec((any::<u64>(), any::<String>(), any::<bool>()), 0..8),
        ts(),
    )
        .prop_map(|(host, source, path, file, lines, read_at)| LogBatch {
            v: 1,
            host: host.into(),
            source: source.into(),
            path,
            file: file.map(|(dev, inode)| FileIdentity { dev, inode }),
            generation: 0,
            lines: lines
                .into_iter()
                .map(|(offset, text, lossy)| LogLine { offset, text, lossy, priority: None })
                .collect(),
            next_offset: None,
            cursor: None,
            cursor_lines: None,
            read_at,
        })
}

fn classified() -> impl Strategy<Value = ClassifiedBatch> {
    (
        any::<String>(),
        any::<String>(),
        severity(),
        prop::collection::vec((any::<u64>(), any::<String>(), any::<bool>(), any::<bool>()), 0..8),
        ts(),
    )
        .prop_map(|(host, category, severity, lines, read_at)| ClassifiedBatch {
            v: 1,
            host: host.into(),
            source: "s".into(),
            path: "/p".into(),
            category: category.into(),
            severity,
            lines: lines
                .into_iter()
                .map(|(offset, text, truncated, lossy)| ClassifiedLine {
                    offset,
                    text,
                    truncated,
                    lossy,
                    continues: false,
                })
                .collect(),
            read_at,
        })
}

fn finite() -> impl Strategy<Value = f64> {
    -1e12f64..1e12f64
}

fn app_report() -> impl Strategy<Value = AppReport> {
    (
        any::<String>(),
        prop::collection::vec(any::<String>(), 0..3),
        (finite(), finite(), finite(), finite()),
        (any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>())),
        prop::collection::vec(
            (severity(), any::<String>(), any::<u64>(), ts(), proptest::option::of(any::<u64>())),
            0..3,
        ),
    )
        .prop_map(|(app, containers, (cur, avg, peak, cpu), (errors, warnings, ooms), issues)| {
            AppReport {
                app_name: app.as_str().into(),
                display_name: app,
                containers,
                memory_current_mb: cur,
                memory_avg_mb: avg,
                memory_peak_mb: peak,
                cpu_avg_percent: cpu,
                catalog_estimate: "256M".into(),
                catalog_limit: "512M".into(),
                log_errors: errors,
                log_warnings: warnings,
                issues: issues
                    .into_iter()
                    .map(|(severity, message, count, last_seen, fp)| LogIssue {
                        severity,
                        message,
                        count,
                        last_seen,
                        fingerprint: fp.map(tailrace_schemas::Fingerprint),
                    })
                    .collect(),
                oom_kills: ooms,
                restarts: ooms.map(|n| n / 2),
                sample_count: None,
            }
        })
}

fn report() -> impl Strategy<Value = Report> {
    (any::<String>(), proptest::option::of(ts()), prop::collection::vec(app_report(), 0..3)).prop_map(
        |(customer, reported_at, app_telemetry)| Report {
            v: 1,
            customer_id: customer.into(),
            reported_at,
            controller_version: Some("v0.28.0".into()),
            hostname: None,
            app_telemetry,
        },
    )
}

fn issue() -> impl Strategy<Value = IssueOccurrence> {
    (any::<u64>(), severity(), any::<String>(), any::<u64>(), ts(), ts(), any::<String>()).prop_map(
        |(fp, severity, message, count, first_seen, last_seen, sample)| IssueOccurrence {
            v: 1,
            scope: "app".into(),
            fingerprint: Fingerprint(fp),
            severity,
            message,
            count,
            first_seen,
            last_seen,
            sample,
            host: Some("h".into()),
            source: None,
            app: None,
            customer: Some("c".into()),
            reported_at: None,
        },
    )
}

fn round_trip<T: Payload + PartialEq + std::fmt::Debug>(value: &T) -> Result<(), TestCaseError> {
    let wire = encode(value).unwrap();
    prop_assert!(!codec::is_json(&wire));
    prop_assert_eq!(&decode::<T>(&wire).unwrap(), value);
    let json = encode_json(value).unwrap();
    prop_assert_eq!(&decode::<T>(&json).unwrap(), value);
    // As the publisher sends long payloads: one zstd frame around either form.
    for plain in [&wire, &json] {
        let frame = compress(plain).unwrap();
        prop_assert!(is_compressed(&frame) && !codec::is_json(&frame));
        prop_assert_eq!(&decode::<T>(&frame).unwrap(), value);
    }
    Ok(())
}

proptest! {
    #[test] fn log_batches_round_trip(b in log_batch()) { round_trip(&b)?; }
    #[test] fn classified_batches_round_trip(b in classified()) { round_trip(&b)?; }
    #[test] fn reports_round_trip(r in report()) { round_trip(&r)?; }
    #[test] fn issues_round_trip(i in issue()) { round_trip(&i)?; }
    #[test] fn dead_letters_round_trip(payload in prop::collection::vec(any::<u8>(), 0..64), reason in any::<String>()) {
        round_trip(&DeadLetter {
            v: 1,
            consumer: ConsumerName::new("classify").unwrap(),
            stream: "LOGS".into(),
            stream_seq: 7,
            subject: "logs.raw.a.b".into(),
            deliveries: 5,
            reason,
            failed_at: Timestamp::from_unix_seconds(1),
            headers: vec![("Nats-Msg-Id".into(), "x".into())],
            payload,
        })?;
    }
}

#[test]
fn every_simple_payload_round_trips() {
    let f = FileEvent {
        v: 1,
        target: "meluxina".into(),
        category: "slurm".into(),
        kind: FileEventKind::Created,
        path: "categorized/slurm/job 1.err".into(),
        size: 10,
        modified: Timestamp::from_unix_seconds(5),
        sha256: None,
        lines: Some(3),
        copy: tailrace_schemas::CopyState::Compressed,
        first_line_at: Some(Timestamp::from_unix_seconds(1)),
        last_line_at: Some(Timestamp::from_unix_seconds(4)),
    };
    assert_eq!(decode::<FileEvent>(&encode(&f).unwrap()).unwrap(), f);
    // An event from before retention (no `copy`) reads as a plain copy.
    let mut old = serde_json::to_value(&f).unwrap();
    old.as_object_mut().unwrap().remove("copy");
    let old: FileEvent = serde_json::from_value(old).unwrap();
    assert_eq!(old.copy, tailrace_schemas::CopyState::Plain);
    let s = TailStatus::new(
        "10.55.23.41".into(),
        "genesis".into(),
        "/home/nutanix/data/logs/genesis.out".into(),
        TailStatusKind::FileMissing,
        "waiting".into(),
    );
    assert_eq!(s.status, TailState::Error);
    assert_eq!(decode::<TailStatus>(&encode(&s).unwrap()).unwrap(), s);
}

/// A controller of the seed's version sends this JSON; it must decode as is.
#[test]
fn a_seed_controller_report_decodes() {
    let json = br#"{
        "customer_id": "acme",
        "stacks": [{"name": "web"}],
        "app_telemetry": [{
            "app_name": "nextcloud", "display_name": "Nextcloud", "containers": ["nc-app", "nc-db"],
            "memory_current_mb": 512.5, "memory_avg_mb": 480, "memory_peak_mb": 700,
            "cpu_avg_percent": 3.5, "catalog_estimate": "512M", "catalog_limit": "1G",
            "log_errors": 2, "log_warnings": 5,
            "issues": [{"severity": "error", "message": "db timeout", "count": 2, "last_seen": "2026-11-22T10:00:00Z"}]
        }]
    }"#;
    let r: Report = decode(json).unwrap();
    assert_eq!(r.v, 1, "a payload without a version is version 1");
    assert_eq!(r.customer_id.as_str(), "acme");
    assert_eq!(r.app_telemetry[0].issues[0].severity, Severity::Error);
    assert_eq!(r.app_telemetry[0].memory_avg_mb, 480.0);
}

/// Old controllers send no app_telemetry at all (the seed's backward-compatibility rule).
#[test]
fn a_report_without_telemetry_decodes_as_empty() {
    let r: Report = decode(br#"{"customer_id": "old"}"#).unwrap();
    assert!(r.app_telemetry.is_empty());
    assert_eq!(r.reported_at, None);
}

/// An older writer that lacks a later optional field, written as MessagePack.
#[test]
fn an_older_messagepack_batch_decodes() {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        offset: u64,
        text: &'a str,
    }
    let bytes = rmp_serde::to_vec_named(&serde_json::json!({
        "host": "h", "source": "s", "path": "/x", "read_at": 0, "future_field": [1, 2],
        "lines": [Line { offset: 0, text: "a" }],
    }))
    .unwrap();
    let b: LogBatch = decode(&bytes).unwrap();
    assert_eq!(b.v, 1);
    assert_eq!(b.file, None);
    assert_eq!(b.lines[0].text, "a");
    assert!(!b.lines[0].lossy);
}

#[test]
fn a_bad_payload_names_the_type_and_field() {
    let err = decode::<Report>(br#"{"app_telemetry": []}"#).unwrap_err().to_string();
    assert!(err.contains("Report") && err.contains("customer_id"), "{err}");
    let err = decode::<Report>(br#"{"customer_id": "a", "reported_at": "noon"}"#).unwrap_err().to_string();
    assert!(err.contains("noon"), "{err}");
    let err = decode::<LogBatch>(b"").unwrap_err().to_string();
    assert!(err.contains("empty") && err.contains("LogBatch"), "{err}");
    let err = decode::<LogBatch>(&[0x93, 0x01]).unwrap_err().to_string();
    assert!(err.contains("LogBatch"), "{err}");
}

#[test]
fn invalid_utf8_is_kept_lossily_and_marked() {
    let l = LogLine::from_bytes(3, b"caf\xe9 ok");
    assert!(l.lossy);
    assert_eq!(l.text, "caf\u{FFFD} ok");
    assert!(!LogLine::from_bytes(0, b"plain").lossy);
}

#[test]
fn dedup_ids_follow_the_data_identity() {
    let mut b = LogBatch {
        v: 1,
        host: "10.0.0.1".into(),
        source: "genesis".into(),
        path: "/x".into(),
        file: Some(FileIdentity { dev: 1, inode: 2 }),
        generation: 0,
        lines: vec![LogLine { offset: 100, text: "a".into(), lossy: false, priority: None }],
        next_offset: Some(102),
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    };
    let id = b.dedup_id();
    assert_eq!(id, "raw/10~2E0~2E0~2E1/genesis/1:2/0/100");
    b.generation = 1;
    assert_ne!(b.dedup_id(), id, "after a truncation the same offset is other data");
    b.generation = 0;
    b.read_at = Timestamp::EPOCH;
    assert_eq!(b.dedup_id(), id, "read time is not part of the identity");
    b.lines[0].offset = 101;
    assert_ne!(b.dedup_id(), id);
}

#[test]
fn a_frame_claiming_more_than_the_limit_is_refused_without_inflating_it() {
    let zeros = vec![0u8; codec::MAX_DECOMPRESSED + 1];
    let frame = compress(&zeros).unwrap();
    assert!(frame.len() < 64 * 1024, "a bomb is small on the wire");
    let err = decode::<LogBatch>(&frame).unwrap_err().to_string();
    assert!(err.contains("LogBatch") && err.contains("zstd") && err.contains("more than"), "{err}");
}

#[test]
fn a_corrupt_frame_is_refused_with_the_type_named() {
    let batch = LogBatch {
        v: 1,
        host: "h".into(),
        source: "s".into(),
        path: "/p".into(),
        file: None,
        generation: 0,
        lines: (0..200)
            .map(|i| LogLine { offset: i, text: format!("line {i}"), lossy: false, priority: None })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::from_nanos(0),
    };
    let mut frame = compress(&encode(&batch).unwrap()).unwrap();
    let middle = frame.len() / 2;
    frame.truncate(middle);
    let err = decode::<LogBatch>(&frame).unwrap_err().to_string();
    assert!(err.contains("invalid LogBatch (zstd frame)"), "{err}");
    let err = decode::<LogBatch>(&codec::ZSTD_MAGIC).unwrap_err().to_string();
    assert!(err.contains("zstd"), "{err}");
}
