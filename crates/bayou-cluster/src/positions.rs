//! Committed replay positions in a KV bucket: a named subscriber resumes from its position on
//! whichever node it reaches. Keys are the subscriber's name in hex (KV keys allow few
//! characters; names allow many).
//!
//! Claims (who reads a subscriber now) are entries of the same bucket, `c<hex>` →
//! `<lapses at, epoch ms> <holder>`, written only by compare-and-set on the entry's revision:
//! two nodes racing for a subscriber cannot both win. A lapsed claim is taken over the same
//! way; the nodes' clocks must agree to well within the claim's lifetime (NTP does).

use std::time::Duration;

use async_nats::jetstream::kv;
use bayou_log::{LogError, PositionStore, StoreFuture};

/// [`PositionStore`] on a KV bucket.
pub struct ClusterPositions {
    bucket: kv::Store,
}

impl ClusterPositions {
    pub(crate) fn new(bucket: kv::Store) -> Self {
        Self { bucket }
    }
}

fn key(subscriber: &str) -> String {
    format!("s{}", crate::subjects::hex(subscriber.as_bytes()))
}

fn claim_key(subscriber: &str) -> String {
    format!("c{}", crate::subjects::hex(subscriber.as_bytes()))
}

/// A claim's value: when it lapses, and whose it is.
fn claim_value(lapses_ms: i64, holder: &str) -> bytes::Bytes {
    format!("{lapses_ms} {holder}").into_bytes().into()
}

/// The holder of a claim entry and when it lapses (a value that does not read lapsed long ago).
fn read_claim(value: &[u8]) -> (i64, &str) {
    let text = std::str::from_utf8(value).unwrap_or("");
    let (lapses, holder) = text.split_once(' ').unwrap_or(("0", ""));
    (lapses.parse().unwrap_or(0), holder)
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("positions bucket: {e}"))
}

impl PositionStore for ClusterPositions {
    fn commit(&self, subscriber: &str, replay_id: u64) -> StoreFuture<'_, ()> {
        let key = key(subscriber);
        Box::pin(async move {
            self.bucket
                .put(key, replay_id.to_be_bytes().to_vec().into())
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn committed(&self, subscriber: &str) -> StoreFuture<'_, Option<u64>> {
        let key = key(subscriber);
        Box::pin(async move {
            let value = self.bucket.get(key).await.map_err(unavailable)?;
            Ok(value.and_then(|v| Some(u64::from_be_bytes(v.as_ref().try_into().ok()?))))
        })
    }

    fn forget(&self, subscriber: &str) -> StoreFuture<'_, bool> {
        let key = key(subscriber);
        Box::pin(async move {
            let existed = self.bucket.get(&key).await.map_err(unavailable)?.is_some();
            if existed {
                self.bucket.purge(&key).await.map_err(unavailable)?;
            }
            Ok(existed)
        })
    }

    fn claim(&self, subscriber: &str, holder: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let key = claim_key(subscriber);
        let holder = holder.to_owned();
        Box::pin(async move {
            let now = bayou_protocol::time::now_millis();
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let value = claim_value(now.saturating_add(ttl_ms), &holder);
            // A free subscriber (no entry, or a deleted one: `create` takes both).
            match self.bucket.create(&key, value.clone()).await {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(unavailable(e)),
            }
            let Some(entry) = self.bucket.entry(&key).await.map_err(unavailable)? else {
                // Released between the two reads: the next claim takes it.
                return Ok(false);
            };
            let (lapses, current) = read_claim(&entry.value);
            let free = entry.operation != kv::Operation::Put || lapses <= now;
            if current != holder && !free {
                return Ok(false);
            }
            match self.bucket.update(&key, value, entry.revision).await {
                Ok(_) => Ok(true),
                // Another node wrote it since: it won.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn release(&self, subscriber: &str, holder: &str) -> StoreFuture<'_, ()> {
        let key = claim_key(subscriber);
        let holder = holder.to_owned();
        Box::pin(async move {
            let Some(entry) = self.bucket.entry(&key).await.map_err(unavailable)? else {
                return Ok(());
            };
            if entry.operation != kv::Operation::Put || read_claim(&entry.value).1 != holder {
                return Ok(());
            }
            // Only if it is still this holder's entry; otherwise someone has taken it over.
            match self
                .bucket
                .delete_expect_revision(&key, Some(entry.revision))
                .await
            {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == kv::DeleteErrorKind::WrongLastRevision => Ok(()),
                Err(e) => Err(unavailable(e)),
            }
        })
    }
}
