//! Committed positions: the last replay id a named subscriber has confirmed processing, kept by
//! the server so that the subscriber resumes from there (the Pub/Sub API's managed
//! subscriptions and `CommitReplayRequest`). Durable like the log: a committed position
//! survives a restart.

use crate::StoreFuture;

/// Committed replay positions by subscriber name.
pub trait PositionStore: Send + Sync + 'static {
    /// Records that `subscriber` has processed everything up to `replay_id`. A commit lower than
    /// the stored one is kept as given: a subscriber may rewind on purpose.
    fn commit(&self, subscriber: &str, replay_id: u64) -> StoreFuture<'_, ()>;

    /// The last position committed by `subscriber`, if any.
    fn committed(&self, subscriber: &str) -> StoreFuture<'_, Option<u64>>;

    /// Forgets `subscriber`'s position (the subscription was deleted); resolves with whether one
    /// existed.
    fn forget(&self, subscriber: &str) -> StoreFuture<'_, bool>;
}
