//! Daily delivery allocations: how many events the org may deliver in a rolling 24 hours, per
//! kind of channel, counted once per subscriber that receives an event — as Salesforce counts
//! them ("matching events × number of subscribers").
//!
//! When an allocation runs out, the event is still stored (it can be replayed once the window
//! has room again, as on Salesforce, where events past the limit stay on the event bus) but is
//! not handed to the session: the session ends, and its connect is answered with
//! `403::Organization total events daily limit exceeded` and advice `none`. New subscriptions
//! to an exhausted kind are refused with the same error.
//!
//! The window is 24 hourly buckets, so a delivery stops counting between 23 and 24 hours
//! after it happened.

use std::time::Instant;

use bayou_protocol::channel::pattern_matches;

/// One allocation: channels it covers and deliveries allowed per rolling 24 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAllocation {
    /// A name for logs and metrics, e.g. `PushTopic`.
    pub name: String,
    /// Channel patterns counted against it (`/topic/**`).
    pub patterns: Vec<String>,
    /// Deliveries allowed per rolling 24 hours.
    pub per_day: u64,
}

const HOURS: usize = 24;

#[derive(Debug)]
struct Window {
    allocation: DeliveryAllocation,
    /// Deliveries per hour; `hours[i]` is for the hour number in `stamps[i]`.
    counts: [u64; HOURS],
    stamps: [u64; HOURS],
}

impl Window {
    fn used(&self, hour: u64) -> u64 {
        self.counts
            .iter()
            .zip(self.stamps)
            .filter(|(_, stamp)| hour.saturating_sub(*stamp) < HOURS as u64)
            .map(|(count, _)| *count)
            .sum()
    }

    fn record(&mut self, hour: u64, n: u64) {
        let slot = (hour % HOURS as u64) as usize;
        if self.stamps[slot] != hour {
            self.stamps[slot] = hour;
            self.counts[slot] = 0;
        }
        self.counts[slot] += n;
    }
}

/// The allocations of an engine and what has been used of them.
#[derive(Debug)]
pub struct Allocations {
    started: Instant,
    windows: Vec<Window>,
}

/// What an allocation stands at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationUsage {
    pub name: String,
    pub per_day: u64,
    pub used: u64,
}

impl Allocations {
    pub fn new(allocations: &[DeliveryAllocation]) -> Self {
        Self {
            started: Instant::now(),
            windows: allocations
                .iter()
                .map(|allocation| Window {
                    allocation: allocation.clone(),
                    counts: [0; HOURS],
                    stamps: [u64::MAX; HOURS],
                })
                .collect(),
        }
    }

    /// Whether any allocation is configured (when none is, delivery skips all of this).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    fn hour(&self) -> u64 {
        self.started.elapsed().as_secs() / 3_600
    }

    /// The allocation covering `channel`, if any.
    pub fn covering(&self, channel: &str) -> Option<usize> {
        self.windows.iter().position(|w| {
            w.allocation
                .patterns
                .iter()
                .any(|p| pattern_matches(p, channel))
        })
    }

    /// Takes one delivery from allocation `index`; `false` when it is used up.
    pub fn take(&mut self, index: usize) -> bool {
        let hour = self.hour();
        self.take_at(index, hour)
    }

    fn take_at(&mut self, index: usize, hour: u64) -> bool {
        let Some(window) = self.windows.get_mut(index) else {
            return true;
        };
        if window.used(hour) >= window.allocation.per_day {
            return false;
        }
        window.record(hour, 1);
        true
    }

    /// Whether an allocation covering `channel` is used up. `channel` may be a subscription
    /// pattern: `/**` or `/topic/*` overlap `/topic/**` and are refused when it is used up.
    pub fn exhausted_for(&self, channel: &str) -> bool {
        let hour = self.hour();
        self.windows.iter().any(|w| {
            let overlaps = w
                .allocation
                .patterns
                .iter()
                .any(|p| pattern_matches(p, channel) || pattern_matches(channel, p));
            overlaps && w.used(hour) >= w.allocation.per_day
        })
    }

    /// What each allocation stands at.
    pub fn usage(&self) -> Vec<AllocationUsage> {
        let hour = self.hour();
        self.windows
            .iter()
            .map(|w| AllocationUsage {
                name: w.allocation.name.clone(),
                per_day: w.allocation.per_day,
                used: w.used(hour),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(per_day: u64) -> Allocations {
        Allocations::new(&[DeliveryAllocation {
            name: "PushTopic".into(),
            patterns: vec!["/topic/**".into()],
            per_day,
        }])
    }

    #[test]
    fn counts_only_covered_channels_and_stops_at_the_limit() {
        let mut a = topics(2);
        assert_eq!(a.covering("/chat/x"), None);
        let i = a.covering("/topic/T").unwrap();
        assert!(a.take_at(i, 0));
        assert!(a.take_at(i, 0));
        assert!(!a.take_at(i, 0));
        assert!(!a.take_at(i, 23));
    }

    #[test]
    fn the_window_rolls_after_24_hours() {
        let mut a = topics(2);
        assert!(a.take_at(0, 5));
        assert!(a.take_at(0, 10));
        assert!(!a.take_at(0, 28)); // hour 5 still counts at 28 (23 hours later)
        assert!(a.take_at(0, 29)); // hour 5 fell out
        assert!(!a.take_at(0, 29));
        assert!(a.take_at(0, 34)); // hour 10 fell out
    }

    #[test]
    fn usage_reports_what_was_taken() {
        let mut a = topics(10);
        a.take(0);
        a.take(0);
        assert_eq!(
            a.usage(),
            vec![AllocationUsage {
                name: "PushTopic".into(),
                per_day: 10,
                used: 2
            }]
        );
        assert!(!a.exhausted_for("/topic/T"));
    }

    #[test]
    fn wildcard_subscriptions_overlapping_a_used_up_allocation_are_exhausted() {
        let mut a = topics(1);
        assert!(a.take(0));
        for pattern in ["/topic/T", "/topic/*", "/topic/**", "/**"] {
            assert!(a.exhausted_for(pattern), "{pattern}");
        }
        for pattern in ["/chat/*", "/u/**", "/event/X"] {
            assert!(!a.exhausted_for(pattern), "{pattern}");
        }
    }
}
