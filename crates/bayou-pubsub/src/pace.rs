//! Fewer, fuller responses under load, as the Bayeux dispatcher does (see
//! `bayou_server::engine::dispatcher`): what a delivery costs is mostly its socket write (on
//! loopback the kernel's send path, receiver side included, is a third of the server's
//! profile), so a stream that would send one response per event at a thousand events a second
//! spends the core on writes. When the streams of this node together delivered
//! [`COALESCE_FROM`] events or more in the last window of `max_coalesce` (the engine's setting,
//! 10 ms by default), a stream that has just sent a response waits a while before reading
//! again, and whatever arrived meanwhile goes out in one response. A quiet server never waits.
//!
//! Two differences from the Bayeux dispatcher, both measured (docs/benchmarks.md):
//!
//! - streams start waiting at a tenth of its load — 50 events per window, 5,000 a second: a
//!   gRPC response costs several times a WebSocket frame (an HTTP/2 frame written by another
//!   task, over TLS), so at 10 or 30 subscribers of 1,000 events/s one response per event took
//!   about 1.4× WebSocket's CPU;
//! - the wait grows with the load, from a tenth of `max_coalesce` at that threshold to all of
//!   it at [`FULL_PAUSE_FROM`]: long enough to gather a few events per response, no longer. A
//!   fixed 10 ms at 10,000 events/s puts p50 at 5 ms for little more saved; a fixed 2 ms at
//!   100,000 deliveries/s made responses so small the fan-out cost 1.8× more.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// Events delivered within one window from which streams wait.
pub const COALESCE_FROM: u64 = 50;

/// Events delivered within one window from which streams wait all of `max_coalesce` (the
/// dispatcher's threshold).
pub const FULL_PAUSE_FROM: u64 = 500;

/// Events delivered by every stream, per window.
pub(crate) struct Pace {
    window: Duration,
    epoch: Instant,
    /// The current window's number, and the events counted in it and in the one before.
    current: AtomicU64,
    count: AtomicU64,
    previous: AtomicU64,
}

impl Pace {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            epoch: Instant::now(),
            current: AtomicU64::new(0),
            count: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    fn window_now(&self) -> u64 {
        let window_ms = self.window.as_millis().max(1);
        u64::try_from(self.epoch.elapsed().as_millis() / window_ms).unwrap_or(u64::MAX)
    }

    /// Counts `events` just delivered.
    pub(crate) fn delivered(&self, events: u64) {
        let now = self.window_now();
        let seen = self.current.load(Relaxed);
        if seen != now
            && self
                .current
                .compare_exchange(seen, now, Relaxed, Relaxed)
                .is_ok()
        {
            let finished = self.count.swap(0, Relaxed);
            self.previous
                .store(if now == seen + 1 { finished } else { 0 }, Relaxed);
        }
        self.count.fetch_add(events, Relaxed);
    }

    /// When a stream that last sent at `last_sent` should read again: now on a quiet node,
    /// later after its last response the busier the node is (see the module docs).
    pub(crate) fn next_read(&self, last_sent: Instant) -> Option<Instant> {
        if self.window.is_zero() {
            return None;
        }
        let stale = self.current.load(Relaxed) + 1 < self.window_now();
        let load = self.count.load(Relaxed).max(self.previous.load(Relaxed));
        if stale || load < COALESCE_FROM {
            return None;
        }
        let share = load.min(FULL_PAUSE_FROM) as f64 / FULL_PAUSE_FROM as f64;
        let at = last_sent + self.window.mul_f64(share);
        (at > Instant::now()).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_busy_node_spaces_responses_and_a_quiet_one_does_not() {
        let pace = Pace::new(Duration::from_millis(10));
        let sent = Instant::now();
        pace.delivered(10);
        assert_eq!(pace.next_read(sent), None, "quiet");
        // From the threshold, a tenth of the window; all of it at the dispatcher's load.
        pace.delivered(COALESCE_FROM - 10);
        assert_eq!(pace.next_read(sent), Some(sent + Duration::from_millis(1)));
        pace.delivered(150);
        assert_eq!(pace.next_read(sent), Some(sent + Duration::from_millis(4)));
        pace.delivered(FULL_PAUSE_FROM);
        assert_eq!(pace.next_read(sent), Some(sent + Duration::from_millis(10)));
        // Still busy in the next window (the one before counted), quiet after two.
        tokio::time::advance(Duration::from_millis(12)).await;
        pace.delivered(1);
        let later = Instant::now();
        assert_eq!(
            pace.next_read(later),
            Some(later + Duration::from_millis(10))
        );
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(pace.next_read(Instant::now()), None);
        assert_eq!(Pace::new(Duration::ZERO).next_read(Instant::now()), None);
    }
}
