//! Per-channel delivery latency: how long after an event was stored the dispatcher placed it
//! in its subscribers' queues, which is the moment their transports are woken to send it (a
//! held long-poll is answered, a WebSocket frame written). Fault injection's delivery delay
//! shows up here, which is the point: the operator sees what subscribers see.
//!
//! Cheap enough for the dispatch loop: one read lock and one map lookup with the channel's
//! `&str`, then two relaxed atomic additions — no allocation per event. A channel's histogram
//! is created (the only allocation) the first time it is seen. The number of channels tracked
//! is capped, so an application that publishes on millions of distinct channels cannot grow
//! this without bound; the rest share one `(other)` histogram.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use serde::Serialize;

/// Upper bounds of the histogram buckets, in milliseconds; one more bucket counts the rest.
pub const BUCKET_BOUNDS_MS: [u64; 14] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/// Channels tracked one by one; later ones are counted under [`OTHER_CHANNELS`].
pub const MAX_CHANNELS: usize = 256;

/// The channel name the untracked channels are counted under.
pub const OTHER_CHANNELS: &str = "(other)";

#[derive(Debug, Default)]
struct Histogram {
    /// Events per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BUCKET_BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
}

impl Histogram {
    fn record(&self, ms: u64) {
        let bucket = BUCKET_BOUNDS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(BUCKET_BOUNDS_MS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// One channel's latency figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySnapshot {
    pub channel: String,
    /// Events measured.
    pub count: u64,
    /// Their latencies added up, in milliseconds.
    pub sum_ms: u64,
    /// Events per bucket of [`BUCKET_BOUNDS_MS`] (not cumulative), plus one for the rest.
    pub buckets: Vec<u64>,
}

impl LatencySnapshot {
    /// The upper bound (ms) of the bucket holding the `q` quantile (0..=1); `None` without
    /// events, `u64::MAX` when it lies above the last bound.
    pub fn quantile_bound_ms(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(BUCKET_BOUNDS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }
}

/// Delivery latency histograms by channel.
#[derive(Debug, Default)]
pub struct DeliveryLatency {
    channels: RwLock<HashMap<Box<str>, Arc<Histogram>>>,
}

impl DeliveryLatency {
    /// Counts one event on `channel` delivered `ms` milliseconds after it was stored.
    pub fn record(&self, channel: &str, ms: u64) {
        {
            let channels = self.channels.read();
            // Past MAX_CHANNELS, new channels share "(other)": found under the read lock too.
            let known = channels.get(channel).or_else(|| {
                (channels.len() >= MAX_CHANNELS)
                    .then(|| channels.get(OTHER_CHANNELS))
                    .flatten()
            });
            if let Some(histogram) = known {
                histogram.record(ms);
                return;
            }
        }
        let histogram = {
            let mut channels = self.channels.write();
            let key = if channels.len() >= MAX_CHANNELS && !channels.contains_key(channel) {
                OTHER_CHANNELS
            } else {
                channel
            };
            Arc::clone(channels.entry(Box::from(key)).or_default())
        };
        histogram.record(ms);
    }

    /// Every channel's figures, by channel name.
    pub fn snapshot(&self) -> Vec<LatencySnapshot> {
        let channels = self.channels.read();
        let mut snapshot: Vec<LatencySnapshot> = channels
            .iter()
            .map(|(channel, histogram)| {
                let buckets: Vec<u64> = histogram
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                LatencySnapshot {
                    channel: channel.to_string(),
                    count: buckets.iter().sum(),
                    sum_ms: histogram.sum_ms.load(Ordering::Relaxed),
                    buckets,
                }
            })
            .collect();
        snapshot.sort_by(|a, b| a.channel.cmp(&b.channel));
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_event_in_the_first_bucket_that_holds_it() {
        let latency = DeliveryLatency::default();
        for ms in [0, 1, 2, 3, 40_000] {
            latency.record("/topic/A", ms);
        }
        latency.record("/event/B__e", 7);
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.len(), 2);
        let b = &snapshot[0];
        assert_eq!(
            (b.channel.as_str(), b.count, b.sum_ms),
            ("/event/B__e", 1, 7)
        );
        assert_eq!(b.buckets[3], 1, "7 ms is in the 10 ms bucket");
        let a = &snapshot[1];
        assert_eq!(a.count, 5);
        assert_eq!(a.sum_ms, 40_006);
        assert_eq!(&a.buckets[..3], &[2, 1, 1]);
        assert_eq!(a.buckets[BUCKET_BOUNDS_MS.len()], 1, "above every bound");
    }

    #[test]
    fn quantiles_are_bucket_bounds() {
        let latency = DeliveryLatency::default();
        for ms in [1, 1, 1, 1, 1, 1, 1, 1, 1, 300] {
            latency.record("/c", ms);
        }
        let c = &latency.snapshot()[0];
        assert_eq!(c.quantile_bound_ms(0.5), Some(1));
        assert_eq!(c.quantile_bound_ms(0.9), Some(1));
        assert_eq!(c.quantile_bound_ms(0.99), Some(500));
        let empty = LatencySnapshot {
            channel: "/x".into(),
            count: 0,
            sum_ms: 0,
            buckets: vec![0; BUCKET_BOUNDS_MS.len() + 1],
        };
        assert_eq!(empty.quantile_bound_ms(0.5), None);
    }

    #[test]
    fn channels_past_the_cap_share_one_histogram() {
        let latency = DeliveryLatency::default();
        for i in 0..MAX_CHANNELS + 10 {
            latency.record(&format!("/c/{i}"), 1);
        }
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.len(), MAX_CHANNELS + 1);
        let other = snapshot
            .iter()
            .find(|s| s.channel == OTHER_CHANNELS)
            .unwrap();
        assert_eq!(other.count, 10);
    }
}
