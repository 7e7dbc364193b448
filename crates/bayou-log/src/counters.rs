//! Rolling daily counters: what the org's daily delivery allocations are counted in.
//!
//! A counter is a name (`PushTopic`, `GenericStreaming`, …) and the deliveries of the last 24
//! hours, kept in hourly buckets, so a delivery stops counting between 23 and 24 hours after it
//! happened. Taking from a counter happens once per delivery, inside the dispatcher's round, so
//! it is synchronous and answered from memory; a clustered store shares the totals in the
//! background and accepts that nodes may briefly overshoot together, as Salesforce's own counts
//! are approximate.

/// Daily counters with a limit.
pub trait UsageCounters: Send + Sync + 'static {
    /// Counts one use of `name` unless the last 24 hours already hold `limit`; `false` when
    /// they do.
    fn try_take(&self, name: &str, limit: u64) -> bool;

    /// Uses of `name` in the last 24 hours.
    fn used(&self, name: &str) -> u64;

    /// Counts as many uses of `name` as it takes for the last 24 hours to hold `limit` (fault
    /// injection: "the daily allocation is reached now").
    fn use_up(&self, name: &str, limit: u64);
}
