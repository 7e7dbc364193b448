//! With relaxed durability, the journal synced in the background every [`SYNC_INTERVAL`].
//!
//! Why: nothing else syncs a relaxed journal until fjall's flush worker does, when a memtable
//! fills — and it holds the journal's lock, which every commit needs, for as long as the disk
//! takes to write everything dirty since the last sync. At 10,000 events/s that was ~15 MB and
//! 60–150 ms, every few seconds: every publish waited, including those committed inline on an
//! async worker, which then stalled every session it served (`bench/pubsub.sh`'s p99 of
//! ~100 ms with one subscriber, WebSocket and gRPC alike, docs/benchmarks.md). Synced every
//! 100 ms, the journal never holds more than 100 ms of writes, each sync is short, and a power
//! loss takes at most the last ~100 ms of acknowledged events instead of everything since the
//! last memtable flush.
//!
//! The sync holds the commit lock, so an append that would commit inline on an async worker
//! (`writer::commit_now`) finds it taken and goes to the writer thread instead of waiting for
//! the disk on the runtime.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use fjall::PersistMode;

use super::{periodic, Inner};
use crate::LogError;

/// How often a relaxed journal is synced: the most of acknowledged writes a power loss can
/// take.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Syncs the journal every `interval`, when anything was committed since the last sync.
pub(super) fn spawn(inner: Weak<Inner>, interval: Duration) -> Result<periodic::Handle, LogError> {
    periodic::spawn("bayou-log-sync", inner, interval, |inner| {
        let commits = inner.commits.load(Ordering::Acquire);
        if commits == inner.synced_commits.load(Ordering::Acquire) {
            return;
        }
        let _no_inline_commits = inner.commit_lock.lock();
        match inner.db.persist(PersistMode::SyncData) {
            Ok(()) => inner.synced_commits.store(commits, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "syncing the event log failed"),
        }
    })
}
