//! Where the client remembers how far it got on each channel.
//!
//! A replay id is stored only once the application has taken the event from
//! [`Client::events`](crate::Client::events), never when it merely arrived: a crash with events
//! still in the buffer then costs nothing, because the next run subscribes from the last id the
//! application saw and the server sends the rest again. Every (re)subscribe — at start, after
//! a re-handshake, after a re-authentication — sends that id for its channel, and only for its
//! channel (per-channel replay maps; reference §12, pain points 7 and 8).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;

use crate::error::ClientError;

/// Where a subscription starts when no replay id is stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// Only events published from now on (`-1`, Salesforce's default).
    New,
    /// Every event the server still keeps (`-2`).
    Earliest,
    /// The events after this replay id.
    After(i64),
}

impl ReplayFrom {
    /// The value sent in `ext.replay`.
    pub fn as_replay_id(self) -> i64 {
        match self {
            ReplayFrom::New => -1,
            ReplayFrom::Earliest => -2,
            ReplayFrom::After(id) => id,
        }
    }

    /// `-1`, `-2` or an id.
    pub fn from_replay_id(id: i64) -> Self {
        match id {
            -1 => ReplayFrom::New,
            -2 => ReplayFrom::Earliest,
            id => ReplayFrom::After(id),
        }
    }
}

/// What to do when the server no longer has the stored replay id (it fell out of the
/// retention window): `400::The replayId {…} you provided was invalid.  …`. Whatever the policy,
/// the application is told with [`Notice::ReplayGap`](crate::Notice::ReplayGap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiredReplay {
    /// Give the subscription up and report [`ClientError::ReplayIdExpired`].
    #[default]
    Fail,
    /// Subscribe again from the earliest event retained (`-2`): nothing retained is missed.
    ResumeEarliest,
    /// Subscribe again for new events only (`-1`).
    ResumeNew,
}

/// Per-channel replay positions. Implement it to keep them where your application keeps its
/// state (a database row in the same transaction as the work done for the event, …).
pub trait ReplayStore: Send + Sync + 'static {
    /// The last replay id stored for `channel` (the subscription as given to `subscribe`).
    fn get<'a>(&'a self, channel: &'a str) -> BoxFuture<'a, Result<Option<i64>, ClientError>>;
    /// Remembers that the application has taken the event `replay_id` of `channel`.
    fn store<'a>(
        &'a self,
        channel: &'a str,
        replay_id: i64,
    ) -> BoxFuture<'a, Result<(), ClientError>>;
}

/// Replay ids kept in memory: survives re-handshakes and re-authentication, not a restart of
/// the process. The default.
#[derive(Debug, Default)]
pub struct MemoryReplayStore {
    ids: Mutex<BTreeMap<String, i64>>,
}

impl MemoryReplayStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn get<'a>(&'a self, channel: &'a str) -> BoxFuture<'a, Result<Option<i64>, ClientError>> {
        let id = self.ids.lock().get(channel).copied();
        Box::pin(async move { Ok(id) })
    }

    fn store<'a>(
        &'a self,
        channel: &'a str,
        replay_id: i64,
    ) -> BoxFuture<'a, Result<(), ClientError>> {
        self.ids.lock().insert(channel.to_owned(), replay_id);
        Box::pin(async { Ok(()) })
    }
}

/// Replay ids in a JSON file (`{"/topic/X": 42, …}`), rewritten atomically (a temporary file,
/// `fsync`, then a rename) on every store, so a crash leaves the previous or the new content,
/// never half of it. Survives restarts: give the same file to the next run to resume.
///
/// That is one `fsync` per event taken, which caps a stream at what the disk syncs per second
/// (hundreds to a few thousand); for more, implement [`ReplayStore`] over storage that batches
/// (or store every n-th id: after a crash the events since are delivered again, never lost).
#[derive(Debug)]
pub struct FileReplayStore {
    path: PathBuf,
    ids: tokio::sync::Mutex<BTreeMap<String, i64>>,
}

impl FileReplayStore {
    /// Opens (or prepares to create) `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref().to_owned();
        let ids = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => BTreeMap::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::ReplayStore(format!(
                    "{} is not a replay store (expected {{\"channel\": replayId}}): {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(ClientError::ReplayStore(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        Ok(Self {
            path,
            ids: tokio::sync::Mutex::new(ids),
        })
    }

    /// Every stored position.
    pub async fn snapshot(&self) -> BTreeMap<String, i64> {
        self.ids.lock().await.clone()
    }

    fn write(path: &Path, ids: &BTreeMap<String, i64>) -> Result<(), ClientError> {
        use std::io::Write;
        let fail = |e: std::io::Error| {
            ClientError::ReplayStore(format!("cannot write {}: {e}", path.display()))
        };
        let bytes =
            serde_json::to_vec_pretty(ids).map_err(|e| ClientError::ReplayStore(e.to_string()))?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(fail)?;
        file.write_all(&bytes).map_err(fail)?;
        file.sync_data().map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)?;
        Ok(())
    }
}

impl ReplayStore for FileReplayStore {
    fn get<'a>(&'a self, channel: &'a str) -> BoxFuture<'a, Result<Option<i64>, ClientError>> {
        Box::pin(async move { Ok(self.ids.lock().await.get(channel).copied()) })
    }

    fn store<'a>(
        &'a self,
        channel: &'a str,
        replay_id: i64,
    ) -> BoxFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            // The lock is held across the write on purpose: stores are serialised so the file
            // always holds the latest id of every channel. It is a tokio mutex, and the write is
            // moved off the runtime's worker.
            let mut ids = self.ids.lock().await;
            ids.insert(channel.to_owned(), replay_id);
            let snapshot = ids.clone();
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || Self::write(&path, &snapshot))
                .await
                .map_err(|e| ClientError::ReplayStore(e.to_string()))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.json");
        let store = FileReplayStore::open(&path).unwrap();
        assert_eq!(store.get("/topic/A").await.unwrap(), None);
        store.store("/topic/A", 7).await.unwrap();
        store.store("/event/B__e", 9).await.unwrap();
        store.store("/topic/A", 8).await.unwrap();
        drop(store);
        let reopened = FileReplayStore::open(&path).unwrap();
        assert_eq!(reopened.get("/topic/A").await.unwrap(), Some(8));
        assert_eq!(reopened.get("/event/B__e").await.unwrap(), Some(9));
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.json");
        std::fs::write(&path, "[1,2]").unwrap();
        let error = FileReplayStore::open(&path).unwrap_err().to_string();
        assert!(error.contains("is not a replay store"), "{error}");
    }

    #[test]
    fn replay_from_round_trips() {
        for id in [-2, -1, 0, 42] {
            assert_eq!(ReplayFrom::from_replay_id(id).as_replay_id(), id);
        }
    }
}
