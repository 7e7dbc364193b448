//! Shared counters and latency histograms of one run.
//!
//! Subscribers record into one of a few sharded HdrHistograms (1 µs to 1 min, 3 significant
//! digits), taking the shard's lock once per received response or frame rather than once per
//! message; everything else is a relaxed atomic counter.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use hdrhistogram::Histogram;

const SHARDS: usize = 16;
const MAX_ERRORS_KEPT: usize = 20;
const HIGHEST_US: u64 = 60_000_000;

pub struct Recorder {
    /// The run's clock: stamps are µs since this instant.
    pub epoch: Instant,
    /// Stamps from this many µs on are measured (the end of the warm-up)...
    pub measure_from_us: AtomicU64,
    /// ...up to this one (the end of publishing).
    pub measure_until_us: AtomicU64,
    shards: Vec<Mutex<Histogram<u64>>>,
    pub delivered: AtomicU64,
    pub delivered_measured: AtomicU64,
    pub unique: AtomicU64,
    pub duplicated: AtomicU64,
    pub foreign: AtomicU64,
    pub expected: AtomicU64,
    pub published: AtomicU64,
    pub published_measured: AtomicU64,
    pub publish_acked: AtomicU64,
    pub publish_failed: AtomicU64,
    pub sessions_ready: AtomicU64,
    pub sessions_lost: AtomicU64,
    /// The highest latency recorded since the timeline last took it (µs).
    window_max_us: AtomicU64,
    error_count: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(epoch: Instant, measure_from_us: u64, measure_until_us: u64) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect();
        Self {
            epoch,
            measure_from_us: AtomicU64::new(measure_from_us),
            measure_until_us: AtomicU64::new(measure_until_us),
            shards,
            delivered: AtomicU64::new(0),
            delivered_measured: AtomicU64::new(0),
            unique: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            published: AtomicU64::new(0),
            published_measured: AtomicU64::new(0),
            publish_acked: AtomicU64::new(0),
            publish_failed: AtomicU64::new(0),
            sessions_ready: AtomicU64::new(0),
            sessions_lost: AtomicU64::new(0),
            window_max_us: AtomicU64::new(0),
            error_count: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// µs since the epoch, now.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub fn is_measured(&self, stamp_us: u64) -> bool {
        stamp_us >= self.measure_from_us.load(Relaxed)
            && stamp_us < self.measure_until_us.load(Relaxed)
    }

    /// Records a batch of latencies (µs) gathered from one response or frame.
    pub fn record_latencies(&self, shard: usize, latencies: &[u64]) {
        if latencies.is_empty() {
            return;
        }
        self.delivered_measured
            .fetch_add(latencies.len() as u64, Relaxed);
        let highest = latencies.iter().copied().max().unwrap_or(0);
        self.window_max_us.fetch_max(highest, Relaxed);
        let mut histogram = self.shards[shard % SHARDS].lock();
        for &us in latencies {
            histogram.saturating_record(us.clamp(1, HIGHEST_US));
        }
    }

    /// The highest latency (µs) recorded since the last call: the timeline's per-second max,
    /// which shows when in a run a tail happened.
    pub fn take_window_max_us(&self) -> u64 {
        self.window_max_us.swap(0, Relaxed)
    }

    pub fn error(&self, text: impl Into<String>) {
        self.error_count.fetch_add(1, Relaxed);
        let mut errors = self.errors.lock();
        if errors.len() < MAX_ERRORS_KEPT {
            errors.push(text.into());
        }
    }

    pub fn errors(&self) -> (u64, Vec<String>) {
        let errors = self.errors.lock();
        (self.error_count.load(Relaxed), errors.clone())
    }

    /// All shards merged.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let shard = shard.lock();
            // Same bounds everywhere, so adding cannot fail.
            let _ = all.add(&*shard);
        }
        all
    }
}

/// 1 µs to 1 min at 3 significant digits, as CometD's benchmark records.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge() {
        let r = Recorder::new(Instant::now(), 0, u64::MAX);
        r.record_latencies(0, &[100, 200]);
        r.record_latencies(5, &[300]);
        r.record_latencies(21, &[120_000_000]);
        let h = r.histogram();
        assert_eq!(h.len(), 4);
        assert_eq!(h.max(), h.highest_equivalent(HIGHEST_US));
        assert_eq!(r.delivered_measured.load(Relaxed), 4);
        for i in 0..30 {
            r.error(format!("e{i}"));
        }
        let (n, kept) = r.errors();
        assert_eq!((n, kept.len()), (30, MAX_ERRORS_KEPT));
    }
}
