//! Wire codec cost: MessagePack (the wire) beside JSON (the edges) for LogBatch messages of 1,
//! 64 and 512 lines of 200 bytes, encode and decode, in one run.
//!
//! cargo bench --bench codec

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tailrace_schemas::{decode, encode, encode_json, FileIdentity, LogBatch, LogLine, Timestamp};

fn batch(lines: usize) -> LogBatch {
    let text = "x".repeat(188);
    LogBatch {
        v: 1,
        host: "10.55.23.41".into(),
        source: "genesis".into(),
        path: "/home/nutanix/data/logs/genesis.out".into(),
        file: Some(FileIdentity { dev: 2049, inode: 131_072 }),
        generation: 0,
        lines: (0..lines)
            .map(|l| {
                let offset = (l * 200) as u64;
                LogLine { offset, text: format!("{offset:>11} {text}"), lossy: false, priority: None }
            })
            .collect(),
        next_offset: None,
        cursor: None,
        cursor_lines: None,
        read_at: Timestamp::now(),
    }
}

fn codec(c: &mut Criterion) {
    for lines in [1usize, 64, 512] {
        let b = batch(lines);
        let wire = encode(&b).unwrap();
        let json = encode_json(&b).unwrap();
        let mut group = c.benchmark_group(format!("LogBatch/{lines}"));
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_function(BenchmarkId::new("encode", "msgpack"), |x| {
            x.iter(|| encode(black_box(&b)).unwrap())
        });
        group.bench_function(BenchmarkId::new("encode", "json"), |x| {
            x.iter(|| encode_json(black_box(&b)).unwrap())
        });
        group.bench_function(BenchmarkId::new("decode", "msgpack"), |x| {
            x.iter(|| decode::<LogBatch>(black_box(&wire)).unwrap())
        });
        group.bench_function(BenchmarkId::new("decode", "json"), |x| {
            x.iter(|| decode::<LogBatch>(black_box(&json)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
