//! Daily counters in memory: 24 hourly buckets per name, hours counted from the Unix epoch so
//! that every node of a cluster would agree on where an hour begins.

use parking_lot::Mutex;
use std::collections::HashMap;

use crate::UsageCounters;

const HOURS: usize = 24;

/// One counter's last 24 hours.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Uses per hour; `counts[i]` is for the hour number in `stamps[i]`.
    counts: [u64; HOURS],
    stamps: [u64; HOURS],
}

impl Default for Window {
    fn default() -> Self {
        Self {
            counts: [0; HOURS],
            stamps: [u64::MAX; HOURS],
        }
    }
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

/// [`UsageCounters`] in this process's memory: they start at zero when Bayou starts.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    windows: Mutex<HashMap<String, Window>>,
}

/// The hour number (hours since the Unix epoch) counters are kept in.
pub fn current_hour() -> u64 {
    u64::try_from(bayou_protocol::time::now_millis()).unwrap_or(0) / 3_600_000
}

/// Uses within the 24 hours ending at `hour`, from `(hour, uses)` pairs.
pub fn used_within_day(hours: &[(u64, u64)], hour: u64) -> u64 {
    hours
        .iter()
        .filter(|(stamp, _)| *stamp <= hour && hour - stamp < HOURS as u64)
        .map(|(_, uses)| uses)
        .sum()
}

impl MemoryCounters {
    fn try_take_at(&self, name: &str, limit: u64, hour: u64) -> bool {
        self.try_take_beside(name, limit, 0, hour)
    }

    /// Counts one use of `name` unless this store's uses plus `elsewhere` (uses counted by other
    /// nodes) already reach `limit`.
    pub fn try_take_beside(&self, name: &str, limit: u64, elsewhere: u64, hour: u64) -> bool {
        let mut windows = self.windows.lock();
        if !windows.contains_key(name) {
            windows.insert(name.to_owned(), Window::default());
        }
        let Some(window) = windows.get_mut(name) else {
            return false;
        };
        if window.used(hour) + elsewhere >= limit {
            return false;
        }
        window.record(hour, 1);
        true
    }

    /// Counts as many uses as it takes for this store's uses plus `elsewhere` to reach `limit`.
    pub fn use_up_beside(&self, name: &str, limit: u64, elsewhere: u64, hour: u64) {
        let mut windows = self.windows.lock();
        let window = windows.entry(name.to_owned()).or_default();
        let missing = limit.saturating_sub(window.used(hour) + elsewhere);
        window.record(hour, missing);
    }

    /// Uses of `name` counted here within the 24 hours ending at `hour`.
    pub fn used_here(&self, name: &str, hour: u64) -> u64 {
        self.used_at(name, hour)
    }

    /// Every counter's uses per hour, as `(hour, uses)` pairs: what a node shares with others.
    pub fn hourly(&self) -> Vec<(String, Vec<(u64, u64)>)> {
        self.windows
            .lock()
            .iter()
            .map(|(name, window)| {
                let hours = window
                    .stamps
                    .iter()
                    .zip(window.counts)
                    .filter(|(stamp, uses)| **stamp != u64::MAX && *uses > 0)
                    .map(|(stamp, uses)| (*stamp, uses))
                    .collect();
                (name.clone(), hours)
            })
            .collect()
    }

    fn used_at(&self, name: &str, hour: u64) -> u64 {
        self.windows.lock().get(name).map_or(0, |w| w.used(hour))
    }
}

impl UsageCounters for MemoryCounters {
    fn try_take(&self, name: &str, limit: u64) -> bool {
        self.try_take_at(name, limit, current_hour())
    }

    fn used(&self, name: &str) -> u64 {
        self.used_at(name, current_hour())
    }

    fn use_up(&self, name: &str, limit: u64) {
        self.use_up_beside(name, limit, 0, current_hour());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_until_the_limit_then_refuses() {
        let counters = MemoryCounters::default();
        assert!(counters.try_take_at("a", 2, 100));
        assert!(counters.try_take_at("a", 2, 100));
        assert!(!counters.try_take_at("a", 2, 100));
        assert!(counters.try_take_at("b", 2, 100), "counters are separate");
        assert_eq!(counters.used_at("a", 100), 2);
        assert_eq!(counters.used_at("missing", 100), 0);
    }

    #[test]
    fn use_up_reaches_the_limit_at_once() {
        let counters = MemoryCounters::default();
        assert!(counters.try_take("a", 5));
        counters.use_up("a", 5);
        assert_eq!(counters.used("a"), 5);
        assert!(!counters.try_take("a", 5));
        counters.use_up("a", 3);
        assert_eq!(counters.used("a"), 5, "never taken back");
    }

    #[test]
    fn uses_stop_counting_after_24_hours() {
        let counters = MemoryCounters::default();
        assert!(counters.try_take_at("a", 1, 100));
        assert!(
            !counters.try_take_at("a", 1, 123),
            "hour 100 is still in the window"
        );
        assert!(
            counters.try_take_at("a", 1, 124),
            "hour 100 has left the window"
        );
        assert_eq!(counters.used_at("a", 124), 1);
    }
}
