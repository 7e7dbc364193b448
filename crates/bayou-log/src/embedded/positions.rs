//! Committed positions in the log's database (keyspace `positions`: subscriber name → replay
//! id, big-endian), written with the same durability as appends.

use std::time::Duration;

use crate::embedded::{Durability, EmbeddedLog};
use crate::{LogError, PositionStore, StoreFuture};

impl PositionStore for EmbeddedLog {
    fn commit(&self, subscriber: &str, replay_id: u64) -> StoreFuture<'_, ()> {
        let key = subscriber.as_bytes().to_vec();
        self.off_runtime(move |inner| {
            inner.positions.insert(key, replay_id.to_be_bytes())?;
            if inner.durability == Durability::Sync {
                inner.db.persist(fjall::PersistMode::SyncData)?;
            }
            Ok(())
        })
    }

    fn committed(&self, subscriber: &str) -> StoreFuture<'_, Option<u64>> {
        let key = subscriber.as_bytes().to_vec();
        self.off_runtime(move |inner| {
            let Some(value) = inner.positions.get(&key)? else {
                return Ok(None);
            };
            let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| {
                LogError::Storage(format!(
                    "corrupt position for {subscriber_key}",
                    subscriber_key = String::from_utf8_lossy(&key)
                ))
            })?;
            Ok(Some(u64::from_be_bytes(bytes)))
        })
    }

    fn forget(&self, subscriber: &str) -> StoreFuture<'_, bool> {
        let key = subscriber.as_bytes().to_vec();
        self.off_runtime(move |inner| {
            let existed = inner.positions.get(&key)?.is_some();
            inner.positions.remove(key)?;
            if inner.durability == Durability::Sync {
                inner.db.persist(fjall::PersistMode::SyncData)?;
            }
            Ok(existed)
        })
    }

    fn claim(&self, subscriber: &str, holder: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let claimed = self.inner.claims.claim(subscriber, holder, ttl);
        Box::pin(std::future::ready(Ok(claimed)))
    }

    fn release(&self, subscriber: &str, holder: &str) -> StoreFuture<'_, ()> {
        self.inner.claims.release(subscriber, holder);
        Box::pin(std::future::ready(Ok(())))
    }
}
