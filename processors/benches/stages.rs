//! CPU per raw batch of each processing stage as it runs on the wire (payloads arrive and leave
//! as zstd frames, as the publisher sends them), beside a processor that decodes and re-encodes
//! the batch untouched (the floor any rewriting processor pays), on the synthetic lines of
//! `tailrace bench pipeline`: 512 lines of 200 bytes, one in ten warn or error.
//!
//! cargo bench -p tailrace-processors --bench stages

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tailrace_processors::classify::{Classify, ClassifyConfig};
use tailrace_processors::synthetic;
use tailrace_processors::template::{Fingerprinter, MinerConfig};
use tailrace_schemas::{compress, decode, encode, ClassifiedBatch, LogBatch, Payload, Severity};

const LINES: usize = 512;

fn wire<T: Payload>(value: &T) -> Vec<u8> {
    compress(&encode(value).expect("encodes")).expect("compresses")
}

fn stages(c: &mut Criterion) {
    let batch = &synthetic::batches(LINES, LINES)[0];
    let plain = encode(batch).expect("encodes");
    let raw = wire(batch);
    eprintln!(
        "one batch: {} bytes of MessagePack, {} as a zstd frame ({:.1}x)",
        plain.len(),
        raw.len(),
        plain.len() as f64 / raw.len() as f64
    );
    let classify = Classify::new(&ClassifyConfig::default()).expect("default rules");
    let classified: Vec<Vec<u8>> = classify
        .classify(decode::<LogBatch>(&raw).expect("decodes"))
        .iter()
        .filter(|b| b.severity >= Severity::Warn)
        .map(wire)
        .collect();

    let mut group = c.benchmark_group("stage per raw batch");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("wire: decompress, decode, encode, compress", |b| {
        b.iter(|| wire(&decode::<LogBatch>(black_box(&raw)).expect("decodes")).len())
    });
    group.bench_function("classify: the same with classify between", |b| {
        b.iter(|| {
            let out = classify.classify(decode::<LogBatch>(black_box(&raw)).expect("decodes"));
            out.iter().map(|b| wire(b).len()).sum::<usize>()
        })
    });
    let mut fingerprinter = Fingerprinter::new(MinerConfig::default());
    group.bench_function("fingerprint: decompress, decode, fingerprint the warn and error lines", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for payload in &classified {
                let batch = decode::<ClassifiedBatch>(black_box(payload)).expect("decodes");
                for line in &batch.lines {
                    n ^= fingerprinter.line(&line.text).fingerprint.0;
                }
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
