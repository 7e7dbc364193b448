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
//! The counts themselves live in the storage layer's [`UsageCounters`] (24 hourly buckets per
//! allocation, so a delivery stops counting between 23 and 24 hours after it happened); this
//! file decides which allocation covers a channel.

use std::sync::Arc;

use bayou_log::UsageCounters;
use bayou_protocol::channel::pattern_matches;

/// One allocation: channels it covers and deliveries allowed per rolling 24 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAllocation {
    /// A name for logs and metrics, e.g. `PushTopic`; also the counter's name.
    pub name: String,
    /// Channel patterns counted against it (`/topic/**`).
    pub patterns: Vec<String>,
    /// Deliveries allowed per rolling 24 hours.
    pub per_day: u64,
}

/// The allocations of an engine, counted in `counters`.
pub struct Allocations {
    allocations: Vec<DeliveryAllocation>,
    counters: Arc<dyn UsageCounters>,
}

impl std::fmt::Debug for Allocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allocations")
            .field("allocations", &self.allocations)
            .finish_non_exhaustive()
    }
}

/// What an allocation stands at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationUsage {
    pub name: String,
    pub per_day: u64,
    pub used: u64,
}

impl Allocations {
    pub fn new(allocations: &[DeliveryAllocation], counters: Arc<dyn UsageCounters>) -> Self {
        Self {
            allocations: allocations.to_vec(),
            counters,
        }
    }

    /// Whether any allocation is configured (when none is, delivery skips all of this).
    pub fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }

    /// The allocation covering `channel`, if any.
    pub fn covering(&self, channel: &str) -> Option<usize> {
        self.allocations
            .iter()
            .position(|a| a.patterns.iter().any(|p| pattern_matches(p, channel)))
    }

    /// Takes one delivery from allocation `index`; `false` when it is used up.
    pub fn take(&self, index: usize) -> bool {
        match self.allocations.get(index) {
            Some(a) => self.counters.try_take(&a.name, a.per_day),
            None => true,
        }
    }

    /// Takes one delivery from the allocation covering `channel`; `false` when it is used up.
    pub fn take_for(&self, channel: &str) -> bool {
        self.covering(channel).is_none_or(|i| self.take(i))
    }

    /// Whether an allocation covering `channel` is used up. `channel` may be a subscription
    /// pattern: `/**` or `/topic/*` overlap `/topic/**` and are refused when it is used up.
    pub fn exhausted_for(&self, channel: &str) -> bool {
        self.allocations.iter().any(|a| {
            let overlaps = a
                .patterns
                .iter()
                .any(|p| pattern_matches(p, channel) || pattern_matches(channel, p));
            overlaps && self.counters.used(&a.name) >= a.per_day
        })
    }

    /// What each allocation stands at.
    /// Uses up the allocation named `name` for today; `false` if there is none by that name.
    pub fn use_up(&self, name: &str) -> bool {
        let Some(allocation) = self.allocations.iter().find(|a| a.name == name) else {
            return false;
        };
        self.counters.use_up(&allocation.name, allocation.per_day);
        true
    }

    pub fn usage(&self) -> Vec<AllocationUsage> {
        self.allocations
            .iter()
            .map(|a| AllocationUsage {
                name: a.name.clone(),
                per_day: a.per_day,
                used: self.counters.used(&a.name),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bayou_log::embedded::MemoryCounters;

    fn topics(per_day: u64) -> Allocations {
        let allocation = DeliveryAllocation {
            name: "PushTopic".into(),
            patterns: vec!["/topic/**".into()],
            per_day,
        };
        Allocations::new(&[allocation], Arc::new(MemoryCounters::default()))
    }

    #[test]
    fn counts_only_covered_channels_and_stops_at_the_limit() {
        let a = topics(2);
        assert_eq!(a.covering("/chat/x"), None);
        assert!(a.take_for("/chat/x"), "uncovered channels are not limited");
        assert!(a.take_for("/topic/T"));
        assert!(a.take_for("/topic/U"));
        assert!(!a.take_for("/topic/T"));
        assert!(a.take_for("/chat/x"));
    }

    #[test]
    fn usage_reports_what_was_taken() {
        let a = topics(10);
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
        let a = topics(1);
        assert!(a.take(0));
        for pattern in ["/topic/T", "/topic/*", "/topic/**", "/**"] {
            assert!(a.exhausted_for(pattern), "{pattern}");
        }
        for pattern in ["/chat/*", "/u/**", "/event/X"] {
            assert!(!a.exhausted_for(pattern), "{pattern}");
        }
    }
}
