//! Committed positions: the last replay id a named subscriber has confirmed processing, kept by
//! the server so that the subscriber resumes from there (the Pub/Sub API's managed
//! subscriptions and `CommitReplayRequest`). Durable like the log: a committed position
//! survives a restart.
//!
//! And who reads a named subscriber now: one stream at a time, wherever it connects. A claim
//! is a lease its holder renews, so that a claim whose node died lapses by itself; it is not
//! durable (a restarted server has no streams).

use std::time::Duration;

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

    /// Claims `subscriber` for `holder` until `ttl` from now, or renews `holder`'s claim:
    /// resolves with `false` while another holder's claim has not lapsed.
    fn claim(&self, subscriber: &str, holder: &str, ttl: Duration) -> StoreFuture<'_, bool>;

    /// Gives up `holder`'s claim on `subscriber` (nothing if another holder has it now).
    fn release(&self, subscriber: &str, holder: &str) -> StoreFuture<'_, ()>;
}

/// Claims kept in memory, for a store only one process opens.
#[derive(Default)]
pub struct LocalClaims {
    claims: parking_lot::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
}

impl LocalClaims {
    /// See [`PositionStore::claim`].
    pub fn claim(&self, subscriber: &str, holder: &str, ttl: Duration) -> bool {
        let now = std::time::Instant::now();
        let mut claims = self.claims.lock();
        match claims.get(subscriber) {
            Some((other, until)) if other != holder && *until > now => false,
            _ => {
                claims.insert(subscriber.to_owned(), (holder.to_owned(), now + ttl));
                true
            }
        }
    }

    /// See [`PositionStore::release`].
    pub fn release(&self, subscriber: &str, holder: &str) {
        let mut claims = self.claims.lock();
        if claims.get(subscriber).is_some_and(|(h, _)| h == holder) {
            claims.remove(subscriber);
        }
    }
}
