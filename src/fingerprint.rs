//! `tailrace fingerprint`: one line out per line in: fingerprint, tab, severity, tab, template.
//! Operators use it to try the rules on a file; `scripts/grouping.py` uses it to measure
//! grouping accuracy and throughput.

use std::io::{BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use tailrace_processors::line;
use tailrace_processors::template::source::LEARN;
use tailrace_processors::template::{Fingerprinter, LineFormat, MinerConfig, SourceKey};

/// Reads stdin to the end. `content`: the lines are messages without headers. `format`: the
/// lines' stated format. `stats`: report lines, templates and time spent fingerprinting on
/// stderr.
pub fn run(cfg: MinerConfig, content: bool, format: Option<&LineFormat>, stats: bool) -> anyhow::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut fp = Fingerprinter::new(cfg);
    // Standard input is one source, whose header columns are learned from its first lines
    // before any is fingerprinted, as the processor learns from a file's first batch.
    let source = SourceKey::new("", "-");
    let mut ahead: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin);
    let (mut lines, mut busy) = (0u64, Duration::ZERO);
    let mut one = |fp: &mut Fingerprinter, bytes: &[u8], out: &mut BufWriter<_>| -> anyhow::Result<()> {
        // Valid UTF-8 (nearly every line) is borrowed; only broken lines are copied.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let start = stats.then(Instant::now);
        let (severity, m) = if content {
            let severity = line::severity::from_words(&text).unwrap_or(tailrace_schemas::Severity::Info);
            (severity, fp.content(&text))
        } else if format.is_some() {
            (line::severity(&text), fp.line_from(source, &text, format))
        } else {
            let parsed = line::parse(&text);
            (parsed.severity(&text), fp.parsed(source, &parsed))
        };
        writeln!(out, "{}\t{}\t{}", m.fingerprint, severity, m.template)?;
        if let Some(start) = start {
            busy += start.elapsed();
        }
        lines += 1;
        Ok(())
    };
    let mut learning = !content && format.is_none();
    // Learning counts as fingerprinting time.
    let mut learning_time = Duration::ZERO;
    loop {
        buf.clear();
        let eof = reader.read_until(b'\n', &mut buf)? == 0;
        while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            buf.pop();
        }
        if learning {
            if !eof {
                ahead.push(buf.clone());
            }
            if ahead.len() < LEARN && !eof {
                continue;
            }
            learning = false;
            let start = stats.then(Instant::now);
            let texts: Vec<_> = ahead.iter().map(|b| String::from_utf8_lossy(b)).collect();
            fp.look_ahead(source, texts.iter().map(AsRef::as_ref));
            learning_time = start.map(|s| s.elapsed()).unwrap_or_default();
            for bytes in &ahead {
                one(&mut fp, bytes, &mut out)?;
            }
            ahead = Vec::new();
            if !eof {
                continue;
            }
        }
        if eof {
            break;
        }
        one(&mut fp, &buf, &mut out)?;
    }
    out.flush()?;
    if stats {
        let templates = fp.miner().templates();
        let secs = (busy + learning_time).as_secs_f64();
        eprintln!(
            "lines={lines} templates={templates} seconds={secs:.3} lines_per_second={:.0}",
            lines as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}
