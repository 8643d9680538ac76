//! Severity: the seed's first-five-words rule, and the levels lines state themselves.

use tailrace_processors::line::severity;
use tailrace_schemas::Severity::{self, Debug, Error, Info, Warn};

fn check(cases: &[(&str, Severity)]) {
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(line, want)| severity(line) != *want)
        .map(|(line, want)| format!("{line}: {:?}, not {want:?}", severity(line)))
        .collect();
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
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

/// Formats the loghub samples do not have, written from each format's documentation.
#[test]
fn levels_of_formats_outside_the_dev_set_decide() {
    check(&[
        // Android logcat, threadtime and brief formats: V D I W E F (A) letters.
        ("12-05 10:00:00.123  1234  5678 E ActivityManager: ANR in com.example", Error),
        ("12-05 10:00:00.123  1234  5678 W PackageManager: slow scan", Warn),
        ("12-05 10:00:00.123  1234  5678 I ActivityManager: error count 0", Info),
        ("12-05 10:00:00.123  1234  5678 D NetworkStats: poll", Debug),
        ("12-05 10:00:00.123  1234  5678 F libc: Fatal signal 11", Error),
        ("E/AndroidRuntime( 1234): FATAL EXCEPTION: main", Error),
        ("W/System.err( 1234): at com.example", Warn),
        ("I/ActivityManager( 1234): Start proc error-reporter", Info),
        // nginx error log and Apache 2.4 error log.
        ("2026/12/05 10:00:00 [error] 123#0: *1 open() failed", Error),
        ("2026/12/05 10:00:00 [warn] 123#0: conflicting server name", Warn),
        ("2026/12/05 10:00:00 [notice] 123#0: signal process started, error log reopened", Info),
        ("2026/12/05 10:00:00 [crit] 123#0: SSL_do_handshake() failed", Error),
        ("[Sat Dec 05 10:00:00.123456 2026] [core:error] [pid 123] AH00037: Symbolic link not allowed", Error),
        ("[Sat Dec 05 10:00:00.123456 2026] [mpm_event:notice] [pid 1] AH00489: resuming normal operations, errors 0", Info),
        ("[Sat Dec 05 10:00:00.123456 2026] [ssl:warn] [pid 1] AH01909: certificate mismatch", Warn),
        // PostgreSQL and MySQL 8.
        ("2026-12-05 10:00:00.123 UTC [123] ERROR:  relation \"x\" does not exist", Error),
        ("2026-12-05 10:00:00.123 UTC [123] LOG:  checkpoint complete: error-free", Info),
        ("2026-12-05 10:00:00.123 UTC [123] FATAL:  password authentication failed", Error),
        ("2026-12-05 10:00:00.123 UTC [123] WARNING:  there is no transaction in progress", Warn),
        ("2026-12-05T10:00:00.123456Z 0 [Warning] [MY-010055] [Server] IP address could not be resolved", Warn),
        ("2026-12-05T10:00:00.123456Z 8 [ERROR] [MY-013183] [InnoDB] Assertion failure", Error),
        ("2026-12-05T10:00:00.123456Z 0 [System] [MY-010116] [Server] starting, error log enabled", Info),
        // Redis: the level is a mark after the role letter (. debug, - verbose, * notice, # warning).
        ("1:M 05 Dec 2026 10:00:00.123 # WARNING overcommit_memory is set to 0", Warn),
        ("1:M 05 Dec 2026 10:00:00.123 * Ready to accept connections, error count 0", Info),
        // java.util.logging's second line, and its fine levels.
        ("WARNING: Could not open file", Warn),
        ("FINE: handler installed, error handler none", Debug),
        ("CONFIG: error page set", Debug),
        // Envoy and bracketed levels.
        ("[2026-12-05 10:00:00.123][12][warning][config] gRPC config stream closed", Warn),
        ("[2026-12-05 10:00:00.123][12][critical][main] error initializing configuration", Error),
        ("[2026-12-05 10:00:00.123][12][info][main] error count 0", Info),
        // Windows Event Log as exported text (wevtutil /f:text) and PowerShell's.
        ("Level: Error", Error),
        ("Information\t12/5/2026 10:00:00 AM\tService Control Manager\t7036\tNone\terror service entered running state", Info),
        ("Warning\t12/5/2026 10:00:00 AM\tDisk\t51\tNone\tAn error was detected on device", Warn),
        ("Critical\t12/5/2026 10:00:00 AM\tKernel-Power\t41\t(63)\tThe system has rebooted", Error),
    ]);
}
