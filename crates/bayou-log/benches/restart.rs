//! Restart-to-ready: how long opening a log holding many events takes (what `bayou serve`
//! waits for before it listens).
//!
//! `cargo bench -p bayou-log --bench restart` — builds a log of `BAYOU_BENCH_EVENTS` events
//! (default 10,000,000) under `target/bench-data/` once, reuses it afterwards, then opens it
//! several times and prints the times: after a clean close, and after a crash (a child process
//! appends 200,000 more events and aborts without closing anything).

use std::path::PathBuf;
use std::time::Instant;

use bayou_log::embedded::Durability;
use bayou_log::{EmbeddedLog, EmbeddedOptions, EventLog, NewEvent};
use bytes::Bytes;

/// The crashing child: append, then die without running any destructor.
fn crash_child(dir: &std::path::Path) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = EmbeddedLog::open(dir, EmbeddedOptions::default()).unwrap();
    rt.block_on(async {
        for _ in 0..20 {
            log.append(events(10_000)).await.unwrap();
        }
    });
    std::process::abort();
}

fn events(n: u64) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent {
            channel: "/topic/Accounts".into(),
            encode: Box::new(|id, _| {
                Bytes::from(format!(
                    r#"{{"channel":"/topic/Accounts","data":{{"event":{{"createdDate":"2026-11-27T12:00:00.000Z","replayId":{id},"type":"updated"}},"sobject":{{"Id":"001xx000003DGb2AAG","Name":"Express Logistics"}}}}}}"#
                ))
            }),
            audience: None,
        })
        .collect()
}

fn time_opens(dir: &std::path::Path, times: usize) -> Vec<f64> {
    (0..times)
        .map(|_| {
            let start = Instant::now();
            let log = EmbeddedLog::open(dir, EmbeddedOptions::default()).unwrap();
            let elapsed = start.elapsed().as_secs_f64() * 1_000.0;
            assert!(log.head() > 0);
            elapsed
        })
        .collect()
}

fn show(times: &[f64]) -> String {
    times
        .iter()
        .map(|t| format!("{t:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(dir) = std::env::var("BAYOU_BENCH_CRASH_CHILD") {
        crash_child(std::path::Path::new(&dir));
    }
    let total: u64 = std::env::var("BAYOU_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-data")
        .join(format!("restart-{total}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    {
        let options = EmbeddedOptions {
            durability: Durability::Relaxed,
            ..EmbeddedOptions::default()
        };
        let log = EmbeddedLog::open(&dir, options).unwrap();
        let have = log.head();
        if have < total {
            eprintln!(
                "building a log of {total} events in {} (have {have})…",
                dir.display()
            );
            let start = Instant::now();
            rt.block_on(async {
                let mut done = have;
                while done < total {
                    let n = (total - done).min(10_000);
                    let batch = events(n);
                    log.append(batch).await.unwrap();
                    done += n;
                    if done.is_multiple_of(1_000_000) {
                        eprintln!("  {done} events ({:.0} s)", start.elapsed().as_secs_f64());
                    }
                }
            });
        }
    }
    let clean = time_opens(&dir, 5);
    let stats = EmbeddedLog::open(&dir, EmbeddedOptions::default())
        .unwrap()
        .stats();
    println!(
        "restart-to-ready with {} events ({:.1} MiB on disk), after a clean close: {}",
        stats.events,
        stats.disk_bytes as f64 / 1_048_576.0,
        show(&clean)
    );
    let mut after_crash = Vec::new();
    for _ in 0..3 {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("BAYOU_BENCH_CRASH_CHILD", &dir)
            .status()
            .unwrap();
        assert!(!status.success(), "the child was meant to abort");
        after_crash.extend(time_opens(&dir, 1));
    }
    println!(
        "restart-to-ready after a crash (200,000 events appended, then abort): {}",
        show(&after_crash)
    );
}
