//! Fewer, fuller responses under load, as the Bayeux dispatcher does (see
//! `bayou_server::engine::dispatcher`): what a delivery costs is mostly its socket write (on
//! loopback the kernel's send path, receiver side included, is a third of the server's
//! profile), so a stream that would send one response per event at a thousand events a second
//! spends the core on writes. When the streams of this node together delivered
//! [`COALESCE_FROM`] events or more in the last window of `max_coalesce` (the engine's setting,
//! 10 ms by default), a stream that has just sent a response waits until `max_coalesce` after it
//! before reading again, and whatever arrived meanwhile goes out in one response. A quiet
//! server never waits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// Events delivered within one window from which streams wait (the dispatcher's figure).
pub const COALESCE_FROM: u64 = 500;

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
    /// `max_coalesce` after its last response on a busy one.
    pub(crate) fn next_read(&self, last_sent: Instant) -> Option<Instant> {
        if self.window.is_zero() {
            return None;
        }
        let stale = self.current.load(Relaxed) + 1 < self.window_now();
        let busy = !stale
            && (self.count.load(Relaxed) >= COALESCE_FROM
                || self.previous.load(Relaxed) >= COALESCE_FROM);
        let at = last_sent + self.window;
        (busy && at > Instant::now()).then_some(at)
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
        pace.delivered(COALESCE_FROM);
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
