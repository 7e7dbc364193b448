//! Group commit: one thread takes every append request waiting in its queue, writes them as
//! one atomic batch, syncs once (`fdatasync`), and only then acknowledges each of them and
//! advances the head. Under load many publishes share one sync, which is where the throughput
//! comes from; alone, a publish waits for exactly one sync.
//!
//! With relaxed durability there is no sync to share, and the trip to this thread and back
//! (two thread wake-ups, each of which may wait for a busy core) would be most of an append's
//! cost: [`commit_now`] writes in the caller instead, whenever that cannot block and no append
//! is waiting here (otherwise the append comes here as before, behind them). Both paths commit
//! under the same lock, which also keeps replay ids and creation times in order.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bayou_protocol::time::now_millis;
use fjall::PersistMode;
use tokio::sync::{mpsc, oneshot};

use super::{codec, Durability, Inner};
use crate::{LogError, NewEvent, RecordWrite, StoredEvent};

pub(super) struct AppendRequest {
    pub events: Vec<NewEvent>,
    pub writes: Vec<RecordWrite>,
    pub reply: oneshot::Sender<Result<Vec<u64>, LogError>>,
}

pub(super) fn run(
    inner: Arc<Inner>,
    mut requests: mpsc::Receiver<AppendRequest>,
    max_batch: usize,
) {
    while let Some(first) = requests.blocking_recv() {
        let mut count = first.events.len();
        let mut batch = vec![first];
        while count < max_batch {
            match requests.try_recv() {
                Ok(request) => {
                    count += request.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let mut changes: Vec<_> = batch
            .iter_mut()
            .map(|r| (std::mem::take(&mut r.events), std::mem::take(&mut r.writes)))
            .collect();
        let result = commit(&inner, &mut changes);
        // Committed (or failed): appends queued after these may be written inline again.
        inner.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
        if let Err(e) = &result {
            tracing::error!(error = %e, "event log append failed");
        }
        match result {
            Ok(ids) => {
                for (request, ids) in batch.into_iter().zip(ids) {
                    let _ = request.reply.send(Ok(ids));
                }
            }
            Err(e) => {
                for request in batch {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// What [`commit_now`] did.
pub(super) enum Inline {
    /// Written (or failed) in the calling thread.
    Done(Result<Vec<u64>, LogError>),
    /// Not attempted, the append is handed back: another commit holds the lock, or the store
    /// is throttling writes (a flush backlog), and the caller — an async task — must not wait
    /// for either. The writer thread takes it instead.
    Busy(Vec<NewEvent>, Vec<RecordWrite>),
}

/// Writes one append in the calling thread (relaxed durability: no sync to share) when that
/// cannot block: the lock is free and fjall has no flush backlog that would make the write
/// sleep (it pauses writers while 4 sealed memtables wait, or 20 level-0 runs pile up).
pub(super) fn commit_now(inner: &Inner, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> Inline {
    // (`sealed_memtable_count` and `l0_table_count` are fjall's hidden API: pinned in Cargo.lock,
    // and a version without them fails to build rather than to behave.)
    let throttling = [&inner.events, &inner.records, &inner.by_channel]
        .iter()
        .any(|k| k.sealed_memtable_count() >= 2 || k.l0_table_count() >= 16);
    // Appends waiting for the writer thread go first: one written here now would overtake them.
    let overtaking = inner.waiting.load(Ordering::SeqCst) > 0;
    let guard = match inner.commit_lock.try_lock() {
        Some(guard) if !throttling && !overtaking => guard,
        _ => return Inline::Busy(events, writes),
    };
    let written = commit_locked(inner, guard, &mut [(events, writes)]).inspect_err(|e| {
        tracing::error!(error = %e, "event log append failed");
    });
    Inline::Done(written.map(|mut ids| ids.pop().unwrap_or_default()))
}

/// Writes appends as one atomic batch (and syncs it, with `Sync` durability), then makes the
/// events visible; returns each append's replay ids.
fn commit(
    inner: &Inner,
    changes: &mut [(Vec<NewEvent>, Vec<RecordWrite>)],
) -> Result<Vec<Vec<u64>>, LogError> {
    let guard = inner.commit_lock.lock();
    commit_locked(inner, guard, changes)
}

/// [`commit`] with the commit lock (the last creation time given out) already held.
fn commit_locked(
    inner: &Inner,
    mut last_created: parking_lot::MutexGuard<'_, i64>,
    changes: &mut [(Vec<NewEvent>, Vec<RecordWrite>)],
) -> Result<Vec<Vec<u64>>, LogError> {
    // Creation times never go backwards, so retention can stop at the first young event.
    let created = now_millis().max(*last_created);
    *last_created = created;
    let head = inner.head();
    let mut next = head;
    let mut write = inner.db.batch();
    // Index blocks this batch adds, in id order; remembered as written once it commits.
    let mut indexed = inner.indexed_block.lock();
    let mut new_blocks: Vec<(u64, u64)> = Vec::new();
    let mut stored = Vec::new();
    let mut ids: Vec<Vec<u64>> = Vec::with_capacity(changes.len());
    // Events of one batch mostly share a few channels: share the name too.
    let mut last_channel: Option<Arc<str>> = None;
    for (events, writes) in changes.iter_mut() {
        let mut request_ids = Vec::with_capacity(events.len());
        for event in events.drain(..) {
            next += 1;
            let bytes = (event.encode)(next, created);
            write.insert(
                &inner.events,
                codec::key(next),
                codec::encode_value(created, &event.channel, event.audience.as_ref(), &bytes),
            );
            let block = (
                codec::channel_hash(&event.channel),
                next / codec::INDEX_BLOCK,
            );
            if !indexed.has(block) && !new_blocks.contains(&block) {
                write.insert(&inner.by_channel, codec::index_key(block.0, block.1), []);
                new_blocks.push(block);
            }
            request_ids.push(next);
            let channel = match &last_channel {
                Some(last) if **last == *event.channel => Arc::clone(last),
                _ => {
                    let name: Arc<str> = Arc::from(event.channel);
                    last_channel = Some(Arc::clone(&name));
                    name
                }
            };
            stored.push(StoredEvent {
                replay_id: next,
                created_ms: created,
                channel,
                bytes,
                audience: event.audience,
            });
        }
        ids.push(request_ids);
        for change in writes.drain(..) {
            match change.value {
                Some(value) => write.insert(&inner.records, change.key, value),
                None => write.remove(&inner.records, change.key),
            }
        }
    }
    // The head needs no record of its own here: it is the last key. (Expiry, which can remove
    // the last key, records the head in `meta` first.)
    write.commit()?;
    for block in new_blocks {
        indexed.record(block);
    }
    drop(indexed);
    if inner.durability == Durability::Sync {
        inner.db.persist(PersistMode::SyncData)?;
    }
    inner
        .commits
        .fetch_add(1, std::sync::atomic::Ordering::Release);
    inner.publish_recent(stored, next);
    Ok(ids)
}
