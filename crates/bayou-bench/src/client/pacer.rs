//! When a publisher's next batch is due, at a target rate or as fast as it may.

use std::sync::atomic::Ordering::Relaxed;

use super::Shared;

/// The pacing of one publisher: when its next batch is due.
///
/// Publishers are staggered: publisher `i` of `P` sends its batches at `(n + i/P) / rate`, so
/// all of them together send evenly spaced batches rather than `P` at once.
pub struct Pacer {
    start_us: u64,
    until_us: u64,
    batches_per_us: Option<f64>,
    phase: f64,
}

/// What a publisher should do next.
pub enum Pace {
    Send,
    WaitUs(u64),
    Done,
}

impl Pacer {
    pub fn new(shared: &Shared, index: usize) -> Self {
        let config = &shared.config;
        Self::from_parts(
            shared.publish_start_us.load(Relaxed),
            shared.recorder.measure_until_us.load(Relaxed),
            config.rate,
            config.publishers,
            config.batch,
            index,
        )
    }

    fn from_parts(
        start_us: u64,
        until_us: u64,
        rate: Option<f64>,
        publishers: usize,
        batch: usize,
        index: usize,
    ) -> Self {
        Self {
            start_us,
            until_us,
            batches_per_us: rate.map(|r| r / (publishers as f64 * batch as f64) / 1e6),
            phase: index as f64 / publishers as f64,
        }
    }

    /// Sleeps until the next batch is due; `false` once publishing is over.
    pub async fn until_due(&self, shared: &Shared, batches_sent: u64) -> bool {
        loop {
            match self.next(shared.recorder.now_us(), batches_sent) {
                Pace::Done => return false,
                Pace::WaitUs(us) => tokio::time::sleep(std::time::Duration::from_micros(us)).await,
                Pace::Send => return true,
            }
        }
    }

    pub fn next(&self, now_us: u64, batches_sent: u64) -> Pace {
        if now_us >= self.until_us {
            return Pace::Done;
        }
        let Some(per_us) = self.batches_per_us else {
            return Pace::Send;
        };
        let due_at = self.start_us + ((batches_sent as f64 + self.phase) / per_us) as u64;
        if due_at <= now_us {
            Pace::Send
        } else {
            Pace::WaitUs((due_at - now_us).min(self.until_us - now_us))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send times of the first batches of `publishers` paced at `rate` (batches of 10).
    fn schedule(rate: f64, publishers: usize, until_us: u64) -> Vec<u64> {
        let mut times = Vec::new();
        for index in 0..publishers {
            let pacer = Pacer::from_parts(0, until_us, Some(rate), publishers, 10, index);
            let mut sent = 0;
            let mut now = 0;
            loop {
                match pacer.next(now, sent) {
                    Pace::Done => break,
                    Pace::Send => {
                        times.push(now);
                        sent += 1;
                    }
                    Pace::WaitUs(us) => now += us,
                }
            }
        }
        times.sort_unstable();
        times
    }

    #[test]
    fn publishers_together_send_evenly_spaced_batches_at_the_rate() {
        // 1,000 msg/s in batches of 10 from 4 publishers: a batch every 10 ms, in turn.
        let times = schedule(1_000.0, 4, 1_000_000);
        assert_eq!(times.len(), 100);
        for (n, t) in times.iter().enumerate() {
            assert_eq!(*t / 100, (n as u64 * 10_000) / 100, "batch {n} at {t} µs");
        }
        // A low rate still spreads: 50 msg/s from 10 publishers is one batch every 200 ms.
        let times = schedule(50.0, 10, 1_000_000);
        assert_eq!(times.len(), 5);
        assert!(
            times.windows(2).all(|w| w[1] - w[0] >= 199_000),
            "{times:?}"
        );
    }
}
