//! How fast the bench reads what servers send: one long-polling reply of 100 chat deliveries
//! as Bayou writes them (channel, the bench's stamped `data`, `ext` with replay id and date),
//! read message by message as the subscribers read it.
//!
//! The bench must stay cheaper than the server it measures (issue 20): at Bayou's best
//! long-polling rate, reading deliveries was most of the bench's CPU.
//!
//! `cargo bench -p bayou-bench --bench scan`

use bayou_bench::payload::{encode, Stamp};
use bayou_bench::{scan, wire};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A reply of `n` deliveries with 50-byte data (the chat scenario's size).
fn reply(n: u64) -> Vec<u8> {
    let messages: Vec<String> = (0..n)
        .map(|i| {
            let stamp = Stamp {
                p: (i % 7) as u32,
                r: 12,
                s: 1_000 + i,
                t: 123_456_789 + i,
            };
            format!(
                r#"{{"channel":"/chat/room-12","data":{},"ext":{{"replayId":{},"createdDate":"2026-12-07T02:25:25.994Z"}}}}"#,
                encode(stamp, 50),
                100_000 + i
            )
        })
        .collect();
    format!("[{}]", messages.join(",")).into_bytes()
}

fn read_replies(c: &mut Criterion) {
    let body = reply(100);
    let mut group = c.benchmark_group("reply of 100 deliveries");
    group.throughput(Throughput::Elements(100));
    group.bench_function("scanner, message by message", |b| {
        b.iter(|| {
            let mut sum = 0_u64;
            scan::each_message(&body, |m| sum += m.stamp.map_or(0, |s| s.s)).unwrap();
            sum
        })
    });
    group.bench_function("serde_json (the reference reading)", |b| {
        b.iter(|| {
            let messages = wire::decode_with_serde(&body).unwrap();
            messages
                .iter()
                .filter_map(|m| m.stamp)
                .map(|s| s.s)
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group!(benches, read_replies);
criterion_main!(benches);
