//! Figures the operator view and `/metrics` read back: the `metrics` facade only writes to a
//! recorder, so the engine keeps its own relaxed atomic counters beside it (added once per
//! dispatched batch, not once per copy) and the per-channel [`DeliveryLatency`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::latency::DeliveryLatency;

/// Counters since the engine started.
#[derive(Debug, Default)]
pub struct EngineStats {
    dispatched: AtomicU64,
    enqueued: AtomicU64,
    /// Per-channel delivery latency.
    pub latency: DeliveryLatency,
}

impl EngineStats {
    pub(super) fn record_batch(&self, dispatched: usize, enqueued: usize) {
        self.dispatched
            .fetch_add(dispatched as u64, Ordering::Relaxed);
        self.enqueued.fetch_add(enqueued as u64, Ordering::Relaxed);
    }

    /// Events taken from the log's tail (published by anyone: REST, Bayeux, the org).
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// Copies of events placed in session queues (deliveries).
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }
}
