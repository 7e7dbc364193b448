//! Tokens shared by every node, in a JetStream KV bucket, with a copy in each node's memory.
//!
//! Checking a token happens on every `/meta/connect`, so it must not cost a round trip: each
//! node keeps every token in memory and follows the bucket for other nodes' changes. A token
//! issued on node A is in B's copy within milliseconds; a revocation on B reaches C the same
//! way, and C's next check of that token fails (the session gets `401::Authentication invalid`
//! on its next connect).
//!
//! Keys are the SHA-256 of the token, never the token: whoever can read the bucket cannot log
//! in with what is in it. Use extends an access token's life; a use is recorded in memory at
//! once and shared with the other nodes every [`TOUCH_EVERY`] (an idle timeout is hours, so a
//! few seconds of difference between nodes does not matter), and an access token idle for the
//! whole timeout on every node is removed from the bucket by whichever node notices first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream::kv;
use bayou_log::{LogError, StoreFuture, TokenGrant, TokenKind, TokenStore};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::last_sequence::LastSequence;

/// How often uses of tokens are shared with the other nodes (at most; sooner for a short idle
/// timeout).
const TOUCH_EVERY: Duration = Duration::from_secs(10);
/// Refresh tokens one user may hold (as in the embedded store).
const MAX_REFRESH_PER_USER: usize = bayou_log::embedded::MAX_REFRESH_PER_USER;
/// Access tokens one user may hold.
const MAX_ACCESS_PER_USER: usize = bayou_log::embedded::MAX_ACCESS_PER_USER;

/// A token as the bucket holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Stored {
    refresh: bool,
    user: String,
    /// For an access token: the hash of the refresh token it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    issued_ms: i64,
    last_used_ms: i64,
}

#[derive(Default)]
struct Copy {
    by_hash: HashMap<String, Stored>,
    /// Tokens used since the last share.
    touched: HashSet<String>,
}

/// [`TokenStore`] on a KV bucket.
pub struct ClusterTokens {
    bucket: kv::Store,
    idle_timeout: Duration,
    copy: Arc<Mutex<Copy>>,
    /// The bucket's revision the copy has applied through.
    applied: Arc<tokio::sync::watch::Sender<u64>>,
    /// The bucket's last revision, asked once for every caught-up check waiting.
    last_revision: LastSequence,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterTokens {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn hash(token: &str) -> String {
    crate::subjects::hex(&Sha256::digest(token.as_bytes()))
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("token bucket: {e}"))
}

impl ClusterTokens {
    /// Loads every token, then follows the bucket.
    pub(crate) async fn open(
        bucket: kv::Store,
        idle_timeout: Duration,
        reconnects: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Result<Self, crate::ClusterError> {
        let copy = Arc::new(Mutex::new(Copy::default()));
        let applied = Arc::new(tokio::sync::watch::Sender::new(0_u64));
        let (loaded, is_loaded) = tokio::sync::oneshot::channel();
        let follow = {
            let (copy, applied) = (Arc::clone(&copy), Arc::clone(&applied));
            tokio::spawn(crate::follow::follow_bucket(
                bucket.clone(),
                reconnects,
                move |entry| {
                    let revision = entry.revision;
                    apply(&copy, entry);
                    applied.send_if_modified(|through| {
                        let moved = *through < revision;
                        *through = (*through).max(revision);
                        moved
                    });
                },
                Some(loaded),
            ))
        };
        // Every token there is first, so that no client is refused because this node has just
        // started.
        if tokio::time::timeout(Duration::from_secs(10), is_loaded)
            .await
            .is_err()
        {
            follow.abort();
            return Err(crate::ClusterError::Nats(
                "cannot load the tokens: the bucket did not answer".into(),
            ));
        }
        let share = tokio::spawn(share_uses(
            bucket.clone(),
            Arc::downgrade(&copy),
            idle_timeout,
        ));
        Ok(Self {
            bucket,
            idle_timeout,
            copy,
            applied,
            last_revision: LastSequence::default(),
            tasks: vec![follow, share],
        })
    }

    async fn delete(&self, hashes: Vec<String>) -> Result<(), LogError> {
        for hash in hashes {
            self.bucket.delete(&hash).await.map_err(unavailable)?;
        }
        Ok(())
    }
}

/// Applies a change from the bucket. A use recorded here that is newer than the bucket's is
/// kept.
fn apply(copy: &Mutex<Copy>, entry: kv::Entry) {
    let mut copy = copy.lock();
    match entry.operation {
        kv::Operation::Put => {
            let Ok(mut stored) = serde_json::from_slice::<Stored>(&entry.value) else {
                tracing::warn!(key = %entry.key, "unreadable token entry ignored");
                return;
            };
            if let Some(known) = copy.by_hash.get(&entry.key) {
                stored.last_used_ms = stored.last_used_ms.max(known.last_used_ms);
            }
            copy.by_hash.insert(entry.key, stored);
        }
        kv::Operation::Delete | kv::Operation::Purge => {
            copy.by_hash.remove(&entry.key);
            copy.touched.remove(&entry.key);
        }
    }
}

/// Shares recent uses with the other nodes and removes access tokens idle everywhere.
async fn share_uses(bucket: kv::Store, copy: Weak<Mutex<Copy>>, idle_timeout: Duration) {
    let every = (idle_timeout / 4).clamp(Duration::from_millis(100), TOUCH_EVERY);
    let idle_ms = i64::try_from(idle_timeout.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(every).await;
        let Some(copy) = copy.upgrade() else { return };
        let now = bayou_protocol::time::now_millis();
        let (touched, idle): (Vec<(String, Stored)>, Vec<String>) = {
            let mut copy = copy.lock();
            let touched = std::mem::take(&mut copy.touched)
                .into_iter()
                .filter_map(|h| Some((h.clone(), copy.by_hash.get(&h)?.clone())))
                .collect();
            let idle = copy
                .by_hash
                .iter()
                .filter(|(_, t)| !t.refresh && now - t.last_used_ms > idle_ms)
                .map(|(h, _)| h.clone())
                .collect();
            (touched, idle)
        };
        for (hash, stored) in touched {
            if let Ok(value) = serde_json::to_vec(&stored) {
                if let Err(e) = bucket.put(&hash, value.into()).await {
                    tracing::debug!("cannot share a token's use: {e}");
                }
            }
        }
        for hash in idle {
            let _ = bucket.delete(&hash).await;
        }
    }
}

impl TokenStore for ClusterTokens {
    fn insert(&self, token: String, grant: TokenGrant) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let now = bayou_protocol::time::now_millis();
            let refresh = grant.kind == TokenKind::Refresh;
            let stored = Stored {
                refresh,
                user: grant.user_id,
                parent: grant.parent.as_deref().map(hash),
                issued_ms: now,
                last_used_ms: now,
            };
            let key = hash(&token);
            let value =
                serde_json::to_vec(&stored).map_err(|e| LogError::Storage(e.to_string()))?;
            // Stored where every node sees it before the client can use it anywhere.
            self.bucket
                .put(&key, value.into())
                .await
                .map_err(unavailable)?;
            let oldest = {
                let mut copy = self.copy.lock();
                copy.by_hash.insert(key, stored.clone());
                let max = if refresh {
                    MAX_REFRESH_PER_USER
                } else {
                    MAX_ACCESS_PER_USER
                };
                let mut mine: Vec<(i64, String)> = copy
                    .by_hash
                    .iter()
                    .filter(|(_, t)| t.user == stored.user && t.refresh == refresh)
                    .map(|(h, t)| (t.issued_ms, h.clone()))
                    .collect();
                if mine.len() > max {
                    mine.sort();
                    let excess = mine.len() - max;
                    let oldest: Vec<String> =
                        mine.into_iter().take(excess).map(|(_, h)| h).collect();
                    for h in &oldest {
                        copy.by_hash.remove(h);
                    }
                    oldest
                } else {
                    Vec::new()
                }
            };
            self.delete(oldest).await
        })
    }

    fn use_access(&self, token: &str) -> Option<String> {
        let key = hash(token);
        let now = bayou_protocol::time::now_millis();
        let idle_ms = i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let mut copy = self.copy.lock();
        let stored = copy.by_hash.get_mut(&key)?;
        if stored.refresh || now - stored.last_used_ms > idle_ms {
            return None;
        }
        stored.last_used_ms = now;
        let user = stored.user.clone();
        copy.touched.insert(key);
        Some(user)
    }

    fn refresh_user(&self, token: &str) -> Option<String> {
        let copy = self.copy.lock();
        let stored = copy.by_hash.get(&hash(token))?;
        stored.refresh.then(|| stored.user.clone())
    }

    fn revoke(&self, token: &str) -> StoreFuture<'_, bool> {
        let key = hash(token);
        Box::pin(async move {
            let gone: Vec<String> = {
                let mut copy = self.copy.lock();
                let Some(stored) = copy.by_hash.remove(&key) else {
                    return Ok(false);
                };
                let mut gone = vec![key.clone()];
                if stored.refresh {
                    let children: Vec<String> = copy
                        .by_hash
                        .iter()
                        .filter(|(_, t)| t.parent.as_deref() == Some(key.as_str()))
                        .map(|(h, _)| h.clone())
                        .collect();
                    for child in &children {
                        copy.by_hash.remove(child);
                    }
                    gone.extend(children);
                }
                gone
            };
            self.delete(gone).await?;
            Ok(true)
        })
    }

    fn revoke_user(&self, user_id: &str) -> StoreFuture<'_, usize> {
        let user_id = user_id.to_owned();
        Box::pin(async move {
            let gone: Vec<String> = {
                let mut copy = self.copy.lock();
                let gone: Vec<String> = copy
                    .by_hash
                    .iter()
                    .filter(|(_, t)| t.user == user_id)
                    .map(|(h, _)| h.clone())
                    .collect();
                for h in &gone {
                    copy.by_hash.remove(h);
                }
                gone
            };
            let count = gone.len();
            self.delete(gone).await?;
            Ok(count)
        })
    }

    fn sync(&self, within: Duration) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + within;
            let ask = || async {
                let info = self.bucket.stream.get_info().await;
                info.map(|info| info.state.last_sequence)
                    .map_err(|e| e.to_string())
            };
            let last = match tokio::time::timeout_at(deadline, self.last_revision.get(ask)).await {
                Ok(Ok(last)) => last,
                Ok(Err(e)) => return Err(unavailable(e)),
                Err(_) => return Ok(()),
            };
            let mut applied = self.applied.subscribe();
            let _ = tokio::time::timeout_at(deadline, applied.wait_for(|r| *r >= last)).await;
            Ok(())
        })
    }
}
