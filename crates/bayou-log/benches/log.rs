//! Event log throughput: appends with group commit (many concurrent publishers, one fdatasync
//! per commit) and replay reads from disk.
//!
//! `cargo bench -p bayou-log --bench log`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bayou_log::{ChannelFilter, EmbeddedLog, EmbeddedOptions, EventLog, NewEvent};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The allocator the `bayou` binary uses, so the figures match the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A typical small Bayeux event, ~200 bytes as delivered.
fn event(channel: &'static str) -> NewEvent {
    NewEvent {
        channel: channel.to_owned(),
        encode: Box::new(move |id, _| {
            Bytes::from(format!(
                r#"{{"channel":"{channel}","data":{{"event":{{"createdDate":"2026-11-27T12:00:00.000Z","replayId":{id},"type":"updated"}},"sobject":{{"Id":"001xx000003DGb2AAG","Name":"Express Logistics and Transport"}}}}}}"#
            ))
        }),
        audience: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `publishers` tasks each append `per_publisher` times, `batch` events per append; returns the
/// time taken.
fn append_load(
    rt: &tokio::runtime::Runtime,
    log: &Arc<EmbeddedLog>,
    publishers: usize,
    per_publisher: usize,
    batch: usize,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..publishers)
            .map(|_| {
                let log = Arc::clone(log);
                tokio::spawn(async move {
                    for _ in 0..per_publisher {
                        let events = (0..batch).map(|_| event("/topic/Accounts")).collect();
                        log.append(events).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn appends(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).unwrap());
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    for (publishers, per, batch) in [(1, 200, 1), (256, 40, 1), (1_000, 20, 1), (100, 10, 100)] {
        let events = publishers * per * batch;
        group.throughput(Throughput::Elements(events as u64));
        let name = format!("{publishers}_publishers_x_{batch}_event(s)_fdatasync");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| append_load(&rt, &log, publishers, per, batch))
                    .sum()
            })
        });
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        // Keep the in-memory tail tiny so reads come from disk, as a long replay does.
        recent_capacity: 16,
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(EmbeddedLog::open(dir.path(), options).unwrap());
    const EVENTS: usize = 500_000;
    let channels = ["/topic/A", "/topic/B", "/topic/C", "/topic/D", "/topic/E"];
    rt.block_on(async {
        for chunk in 0..EVENTS / 10_000 {
            let events = (0..10_000)
                .map(|i| event(channels[(chunk + i) % channels.len()]))
                .collect();
            log.append(events).await.unwrap();
        }
    });
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("all_channels_from_disk", |b| {
        b.iter(|| {
            let mut after = 0;
            let mut n = 0;
            loop {
                let batch = rt
                    .block_on(log.read(after, ChannelFilter::All, 1_000, 1_000))
                    .unwrap();
                n += batch.events.len();
                after = batch.scanned_through;
                if batch.reached_head {
                    break;
                }
            }
            assert_eq!(n, EVENTS);
        })
    });
    group.bench_function("one_channel_of_five_from_disk", |b| {
        b.iter(|| {
            let mut after = 0;
            let mut n = 0;
            loop {
                let filter = ChannelFilter::Pattern("/topic/C".into());
                let batch = rt.block_on(log.read(after, filter, 1_000, 10_000)).unwrap();
                n += batch.events.len();
                after = batch.scanned_through;
                if batch.reached_head {
                    break;
                }
            }
            assert_eq!(n, EVENTS / 5);
        })
    });
    group.finish();
}

criterion_group!(benches, appends, replay);
criterion_main!(benches);
