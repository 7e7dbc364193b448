//! With relaxed durability, the journal synced in the background every [`SYNC_INTERVAL`].
//!
//! Why: nothing else syncs a relaxed journal until fjall's flush worker does, when a memtable
//! fills — and it holds the journal's lock, which every commit needs, for as long as the disk
//! takes to write everything dirty since the last sync. At 10,000 events/s that was ~15 MB and
//! 60–150 ms, every few seconds: every publish waited, including those committed inline on an
//! async worker, which then stalled every session it served (`bench/pubsub.sh`'s p99 of
//! ~100 ms with one subscriber, WebSocket and gRPC alike, docs/benchmarks.md). Synced every
//! 100 ms, the journal never holds more than 100 ms of writes, the flush worker's sync is
//! short, and a power loss takes at most the last ~100 ms of acknowledged events instead of
//! everything since the last memtable flush.
//!
//! The sync takes no lock a commit needs: it `fdatasync`s the active journal file through a
//! descriptor of its own (every commit has already handed its bytes to the OS, so they are in
//! that file's pages), so a slow disk slows this thread and no publish. That relies on fjall's
//! layout — journals are `<N>.jnl` in the database directory, the highest `N` the active one —
//! which Cargo.lock pins (fjall 3.1); if no journal is found there, it falls back to fjall's
//! own `persist`, which holds the journal's lock while it syncs.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
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
pub(super) fn spawn(
    inner: Weak<Inner>,
    dir: &Path,
    interval: Duration,
) -> Result<periodic::Handle, LogError> {
    let dir = dir.to_owned();
    let journal: RefCell<Option<(u64, File)>> = RefCell::new(None);
    periodic::spawn("bayou-log-sync", inner, interval, move |inner| {
        let commits = inner.commits.load(Ordering::Acquire);
        if commits == inner.synced_commits.load(Ordering::Acquire) {
            return;
        }
        let synced = match active_journal(&dir, &mut journal.borrow_mut()) {
            Some(file) => file.sync_data(),
            None => inner
                .db
                .persist(PersistMode::SyncData)
                .map_err(|e| std::io::Error::other(e.to_string())),
        };
        match synced {
            Ok(()) => inner.synced_commits.store(commits, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "syncing the event log failed"),
        }
    })
}

/// The active journal (the highest-numbered `<N>.jnl` in `dir`), opened once per journal.
fn active_journal<'a>(dir: &Path, open: &'a mut Option<(u64, File)>) -> Option<&'a File> {
    let newest = newest_journal(dir)?;
    if open.as_ref().map(|(number, _)| *number) != Some(newest.0) {
        *open = Some((newest.0, File::open(&newest.1).ok()?));
    }
    open.as_ref().map(|(_, file)| file)
}

pub(super) fn newest_journal(dir: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let number = name.to_str()?.strip_suffix(".jnl")?.parse::<u64>().ok()?;
            Some((number, entry.path()))
        })
        .max_by_key(|(number, _)| *number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_journal_is_the_highest_numbered() {
        let dir = tempfile::tempdir().unwrap();
        assert!(newest_journal(dir.path()).is_none());
        for name in ["0.jnl", "2.jnl", "10.jnl", "11.jnl.tmp", "version", "x.jnl"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let (number, path) = newest_journal(dir.path()).unwrap();
        assert_eq!(number, 10);
        assert_eq!(path, dir.path().join("10.jnl"));
        let mut open = None;
        assert!(active_journal(dir.path(), &mut open).is_some());
        assert_eq!(open.as_ref().map(|(n, _)| *n), Some(10));
    }
}
