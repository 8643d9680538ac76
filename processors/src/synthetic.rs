//! Synthetic raw input for benchmarks: the same lines for `tailrace bench pipeline` and the
//! criterion benches, so their figures describe one workload.
//!
//! Lines are 200 bytes with a timestamp header; one in ten is a warning or an error of a handful
//! of templates whose variables (addresses, sizes, durations) change from line to line.

use tailrace_schemas::{HostId, LogBatch, LogLine, SourceId, Timestamp};

/// Bytes per synthetic line.
pub const LINE_BYTES: usize = 200;

/// The `n`th synthetic line: a header, one of a few templates with its variables drawn from `n`,
/// and a trace id, so a batch of them compresses about as well as real logs do (zstd: 5x to 15x
/// on loghub-2k; these: see BENCHMARKS.md) rather than as well as repeated text.
pub fn line(n: usize) -> String {
    let r = mix(n as u64);
    let pick = |shift: u32, m: u64| (r >> shift) % m;
    let body = match n % 20 {
        0 => format!(
            "ERROR [pool-{}] Connection to 10.{}.{}.{}:5432 timed out after {}ms (attempt {})",
            pick(0, 16),
            pick(4, 256),
            pick(12, 256),
            pick(20, 256),
            pick(28, 30_000),
            pick(44, 5)
        ),
        1 => format!(
            "WARN [disk-monitor] Volume /dev/sd{} on node-{} is {}% full ({} GiB free)",
            (b'a' + pick(0, 4) as u8) as char,
            pick(8, 64),
            80 + pick(16, 20),
            pick(24, 500)
        ),
        2..=9 => format!(
            "INFO [http-{}] GET /api/v1/items/{} from 10.{}.{}.{} user={} status=200 bytes={} in {}us",
            pick(0, 32),
            pick(8, 1_000_000),
            pick(28, 256),
            pick(36, 256),
            pick(44, 256),
            USERS[pick(52, USERS.len() as u64) as usize],
            pick(16, 100_000),
            pick(40, 50_000)
        ),
        _ => format!(
            "INFO [scheduler] job {} finished in {}.{:03}s, {} rows, next run in {}s",
            JOBS[pick(0, JOBS.len() as u64) as usize],
            pick(8, 600),
            pick(20, 1000),
            pick(32, 1_000_000),
            pick(52, 3600)
        ),
    };
    let mut text = format!(
        "2026-11-23 10:{:02}:{:02},{:03} {body} trace={:016x}{:016x}",
        n / 60_000 % 60,
        n / 1000 % 60,
        n % 1000,
        mix(r),
        mix(r ^ 1)
    );
    while text.len() < LINE_BYTES {
        text.push_str(" -");
    }
    text.truncate(LINE_BYTES);
    text
}

const USERS: [&str; 8] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
const JOBS: [&str; 6] = ["compact", "reindex", "backup", "gc", "rollup", "export"];

/// splitmix64: a cheap, well-spread hash of the line number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `lines` synthetic lines as raw batches of `per_batch` lines, spread over eight hosts.
pub fn batches(lines: usize, per_batch: usize) -> Vec<LogBatch> {
    let per_batch = per_batch.max(1);
    (0..lines.div_ceil(per_batch))
        .map(|b| {
            let first = b * per_batch;
            let last = (first + per_batch).min(lines);
            LogBatch {
                v: 1,
                host: HostId::new(format!("node-{}", b % 8)),
                source: SourceId::new("server"),
                path: "/var/log/server-app.log".into(),
                file: None,
                generation: 0,
                lines: (first..last)
                    .map(|n| LogLine {
                        offset: (n * LINE_BYTES) as u64,
                        text: line(n),
                        lossy: false,
                        priority: None,
                    })
                    .collect(),
                next_offset: Some((last * LINE_BYTES) as u64),
                cursor: None,
                cursor_lines: None,
                read_at: Timestamp::now(),
            }
        })
        .collect()
}
