//! `tailrace fingerprint`: one line out per line in: fingerprint, tab, severity, tab, template.
//! Operators use it to try the rules on a file; `scripts/grouping.py` uses it to measure
//! grouping accuracy and throughput.

use std::io::{BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use tailrace_processors::line;
use tailrace_processors::template::{Fingerprinter, LineFormat, MinerConfig};

/// Reads stdin to the end. `content`: the lines are messages without headers. `format`: the
/// lines' stated format. `stats`: report lines, templates and time spent fingerprinting on
/// stderr.
pub fn run(cfg: MinerConfig, content: bool, format: Option<&LineFormat>, stats: bool) -> anyhow::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut fp = Fingerprinter::new(cfg);
    let mut buf = Vec::with_capacity(4096);
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin);
    let (mut lines, mut busy) = (0u64, Duration::ZERO);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            buf.pop();
        }
        // Valid UTF-8 (nearly every line) is borrowed; only broken lines are copied.
        let text = match std::str::from_utf8(&buf) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&buf),
        };
        let start = stats.then(Instant::now);
        let (severity, m) = if content {
            let severity = line::severity::from_words(&text).unwrap_or(tailrace_schemas::Severity::Info);
            (severity, fp.content(&text))
        } else if format.is_some() {
            (line::severity(&text), fp.line_in(&text, format))
        } else {
            let parsed = line::parse(&text);
            (parsed.severity(&text), fp.content(&parsed.content))
        };
        writeln!(out, "{}\t{}\t{}", m.fingerprint, severity, m.template)?;
        if let Some(start) = start {
            busy += start.elapsed();
        }
        lines += 1;
    }
    out.flush()?;
    if stats {
        let templates = fp.miner().templates();
        let secs = busy.as_secs_f64();
        eprintln!(
            "lines={lines} templates={templates} seconds={secs:.3} lines_per_second={:.0}",
            lines as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}
