//! Severity: the seed's first-five-words rule, and the levels lines state themselves.

use tailrace_processors::line::severity;
use tailrace_schemas::Severity::{self, Debug, Error, Info, Warn};

fn check(cases: &[(&str, Severity)]) {
    for (line, want) in cases {
        assert_eq!(severity(line), *want, "{line}");
    }
}

#[test]
fn the_seeds_words_in_the_first_five_decide_case_insensitively() {
    check(&[
        ("Error: disk full", Error),
        ("kernel: Out of memory: Killed process 123", Error),
        ("FATAL cannot start", Error),
        ("goroutine panic: nil map", Error),
        ("crit: temperature", Error),
        ("oom reaper woke up", Error),
        ("Unhandled exception in worker", Error),
        ("Traceback (most recent call last):", Error),
        ("Warning: low battery", Warn),
        ("warn something odd", Warn),
        ("one two three four five error", Info), // the sixth word is too late
        ("all is well", Info),
    ]);
}

#[test]
fn json_and_logfmt_level_fields_decide() {
    check(&[
        (r#"{"level":"error","msg":"all fine"}"#, Error),
        (r#"{"severity":"WARNING","message":"m"}"#, Warn),
        (r#"{"level":50,"msg":"pino fatal"}"#, Error),
        (r#"{"level":30,"msg":"error in text but info level"}"#, Info),
        ("time=2024-01-01T00:00:00Z level=warn msg=\"slow query\"", Warn),
        ("ts=1 lvl=debug msg=x", Debug),
    ]);
}

#[test]
fn glog_prefixes_and_syslog_priorities_decide() {
    check(&[
        ("E1122 12:00:00.123456 1234 main.go:42] failed", Error),
        ("W0102 10:00:00.000 1 a.go:1] slow", Warn),
        ("I0102 10:00:00.000 1 a.go:1] error count is 0", Info),
        ("F0102 10:00:00.000 1 a.go:1] dying", Error),
        ("<11>Jan  5 10:00:00 host app: something", Error),
        ("<12>Jan  5 10:00:00 host app: something", Warn),
        ("<14>Jan  5 10:00:00 host app: error in text", Info),
    ]);
}

#[test]
fn python_java_and_go_logger_levels_decide() {
    check(&[
        // Python logging's default and common formats.
        ("ERROR:root:connection refused", Error),
        ("2024-01-02 10:00:00,123 - app.db - WARNING - slow", Warn),
        ("2024-01-02 10:00:00,123 CRITICAL worker died", Error),
        // log4j / logback / Spring Boot.
        ("2024-01-02 10:00:00.123 ERROR 4242 --- [main] c.e.App : failed", Error),
        ("17/06/09 20:10:40 WARN executor.Executor: lost", Warn),
        ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop: exception count 0", Info),
        ("SEVERE: Servlet failed", Error),
        // Go's log/slog text handler and zap's console encoder.
        ("time=2024-01-02T10:00:00Z level=ERROR msg=\"dial failed\"", Error),
        ("2024-01-02T10:00:00.000Z\twarn\tserver/main.go:12\tretrying", Warn),
    ]);
}
