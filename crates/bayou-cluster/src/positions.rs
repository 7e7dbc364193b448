//! Committed replay positions in a KV bucket: a named subscriber resumes from its position on
//! whichever node it reaches. Keys are the subscriber's name in hex (KV keys allow few
//! characters; names allow many).

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
}
