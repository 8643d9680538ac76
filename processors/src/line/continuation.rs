//! Multi-line events: whether a line continues the event of the line before it (a stack
//! trace's frames, a traceback, an indented continuation) rather than starting one.
//!
//! The shapes are the ones runtimes print, not one format's header: indentation (Java's
//! `\tat`, Python's `  File`, Rust's numbered frames, wrapped messages), the lines that open a
//! nested part (`Caused by:`, `Traceback (most recent call last):`, `goroutine 1 [running]:`,
//! `stack backtrace:`), and, inside a trace, the lines that end one unindented (Python's
//! `ValueError: …`, Go's `main.main()` frames). A continuation belongs to the last line that
//! was not one; the classifier gives it that line's category and severity, the fingerprinter
//! counts the whole event once, by that line.

/// What the line before said, as far as continuations care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prev {
    /// A line was seen (the first line of a batch continues nothing).
    pub seen: bool,
    /// That line was itself a continuation: the event is a trace under way.
    pub in_trace: bool,
    /// That line announced its message on the next line (Rust's `… panicked at FILE:L:C:`).
    pub announces: bool,
}

impl Prev {
    /// The state after `line`, which `continues` (or not) the event before it.
    pub fn after(line: &str, continues: bool) -> Self {
        let announces = line.contains(" panicked at ") && line.trim_end().ends_with(':');
        Self { seen: true, in_trace: continues, announces }
    }
}

/// Whether `line` continues the event of the line before it.
pub fn continues(line: &str, prev: Prev) -> bool {
    if !prev.seen {
        return false;
    }
    if prev.announces {
        return true;
    }
    let Some(first) = line.chars().next() else {
        // A blank line carries no event of its own (Go puts one before `goroutine N`).
        return true;
    };
    if first == ' ' || first == '\t' {
        return !line.trim().is_empty() || prev.in_trace;
    }
    const OPENERS: [&str; 8] = [
        "Caused by:",
        "Suppressed:",
        "Traceback (most recent call last):",
        "During handling of the above exception",
        "The above exception was the direct cause",
        "stack backtrace:",
        "note: run with `RUST_BACKTRACE",
        "created by ",
    ];
    if OPENERS.iter().any(|o| line.starts_with(o)) || goroutine_header(line) || more_frames(line) {
        return true;
    }
    prev.in_trace && (exception_line(line) || go_frame(line))
}

/// `goroutine 1 [running]:`
fn goroutine_header(line: &str) -> bool {
    line.strip_prefix("goroutine ")
        .and_then(|r| r.split_once(' '))
        .is_some_and(|(n, rest)| n.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('['))
}

/// Java's `... 12 more`.
fn more_frames(line: &str) -> bool {
    line.strip_prefix("... ")
        .and_then(|r| r.strip_suffix(" more"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The line that ends a Python traceback or names a Java exception: `ValueError: bad`,
/// `java.lang.IllegalStateException: x`, `KeyboardInterrupt`.
fn exception_line(line: &str) -> bool {
    let name = line.split_once(':').map_or(line, |(n, _)| n);
    let ident = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'$');
    ident
        && !name.is_empty()
        && ["Error", "Exception", "Exit", "Interrupt", "Warning", "Throwable"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// A Go frame's function line: `main.main()`, `net/http.(*conn).serve(0xc000150000, …)`.
fn go_frame(line: &str) -> bool {
    let Some(open) = line.find('(') else { return false };
    line.ends_with(')')
        && !line[..open].is_empty()
        && !line[..open].contains(' ')
        && line[..open].contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which lines of `text` start an event (the others continue one).
    fn heads(text: &str) -> Vec<&str> {
        let mut prev = Prev::default();
        let mut out = Vec::new();
        for line in text.lines() {
            let c = continues(line, prev);
            if !c {
                out.push(line);
            }
            prev = Prev::after(line, c);
        }
        out
    }

    #[test]
    fn a_java_stack_trace_with_its_causes_is_one_event() {
        let text = "2026-12-05 10:00:00 ERROR [main] c.e.App - request failed\n\
java.lang.IllegalStateException: boom\n\
\tat com.example.App.run(App.java:12)\n\
\tat com.example.App.main(App.java:5)\n\
Caused by: java.io.IOException: disk\n\
\tat com.example.Disk.write(Disk.java:40)\n\
\t... 2 more\n\
2026-12-05 10:00:01 INFO [main] c.e.App - next";
        assert_eq!(
            heads(text),
            [
                "2026-12-05 10:00:00 ERROR [main] c.e.App - request failed",
                "java.lang.IllegalStateException: boom",
                "2026-12-05 10:00:01 INFO [main] c.e.App - next"
            ]
        );
    }

    #[test]
    fn a_python_traceback_ends_with_its_exception_line() {
        let text = "ERROR:root:job failed\n\
Traceback (most recent call last):\n  File \"job.py\", line 3, in <module>\n    run()\n\
ValueError: bad input\n\
INFO:root:retrying";
        assert_eq!(heads(text), ["ERROR:root:job failed", "INFO:root:retrying"]);
    }

    #[test]
    fn a_go_panic_and_a_rust_panic_are_one_event_each() {
        let go = "panic: runtime error: index out of range [3] with length 3\n\n\
goroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d\nexit status 2";
        assert_eq!(
            heads(go),
            ["panic: runtime error: index out of range [3] with length 3", "exit status 2"]
        );
        let rust = "thread 'main' panicked at src/main.rs:2:5:\n\
called `Option::unwrap()` on a `None` value\n\
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\
next line";
        assert_eq!(heads(rust), ["thread 'main' panicked at src/main.rs:2:5:", "next line"]);
    }

    #[test]
    fn ordinary_lines_each_start_an_event() {
        let text = "Dec  5 10:00:00 host sshd[12]: Accepted key\nDec  5 10:00:01 host cron[3]: job\nValueError: not in a trace";
        assert_eq!(heads(text).len(), 3);
    }
}
