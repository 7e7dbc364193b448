//! The embedded backend: an fjall database in the data directory.
//!
//! Keyspace `events` maps replay id → record; keyspace `by_channel` records which blocks of
//! 1,024 replay ids hold each channel's events (channel hash, block → nothing), written in the
//! same batch as the first event of a channel in a block, so that replaying one channel reads
//! only those blocks, however large the log. The head is the last key; keyspace `meta` keeps a
//! copy written whenever expiry removes events (so ids are never reused, even after every event
//! is gone), the expired-event counter, and the per-rule retention floors. Since ids are
//! contiguous, the head is also the number of events ever appended. Appends go through one writer thread ([`writer`]), or with relaxed durability are written by the caller; the most recent events also stay
//! in memory ([`crate::recent`]) so the engine's tail reads rarely touch the disk; expiry runs on its
//! own thread ([`expiry`]).

pub mod codec;
mod counters;
mod expiry;
mod periodic;
mod positions;
mod syncer;
mod tokens;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use tokio::sync::{mpsc, watch};

use crate::recent::Ring;
use crate::retention::RetentionPolicy;
use crate::{
    queued, AppendFuture, ChannelFilter, EventLog, LogError, LogStats, NewEvent, QueuedAppend,
    ReadBatch, RecordStore, RecordWrite, StoreFuture,
};
pub use counters::{current_hour, used_within_day, MemoryCounters};
pub use tokens::{MemoryTokens, MAX_ACCESS_PER_USER, MAX_REFRESH_PER_USER};
use writer::AppendRequest;

const META_HEAD: &[u8] = b"head";
const META_EXPIRED: &[u8] = b"expired";
/// Set once every event is in the by-channel index.
const META_INDEXED: &[u8] = b"indexed_by_channel_block";
const META_FLOOR_PREFIX: &str = "floor:";
const EVENTS_MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync`: an acknowledged event survives a crash or power loss.
    Sync,
    /// After the write reaches the operating system: survives a crash of Bayou; a crash of the
    /// machine loses at most what was written since the last background sync (every 100 ms,
    /// `syncer.rs`). Faster; for development and throw-away environments.
    Relaxed,
}

/// Settings of the embedded log.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub durability: Durability,
    pub retention: RetentionPolicy,
    /// How often expired events are looked for.
    pub retention_interval: Duration,
    /// Most events written in one group commit.
    pub max_batch: usize,
    /// Recent events kept in memory for the tail.
    pub recent_capacity: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            retention: RetentionPolicy::default(),
            retention_interval: Duration::from_secs(60),
            max_batch: 10_000,
            recent_capacity: 16_384,
        }
    }
}

pub(crate) struct Inner {
    db: Database,
    events: Keyspace,
    meta: Keyspace,
    /// The emulated org's records (see [`RecordStore`]).
    records: Keyspace,
    /// Committed positions (see [`crate::PositionStore`]).
    positions: Keyspace,
    /// Who reads a named subscriber now (one process opens the database).
    claims: crate::LocalClaims,
    /// Which blocks of replay ids hold each channel's events (see `codec::index_key`).
    by_channel: Keyspace,
    /// The channels already indexed in the newest block (so each is written once per block).
    indexed_block: Mutex<IndexedBlock>,
    durability: Durability,
    policy: RetentionPolicy,
    head: watch::Sender<u64>,
    recent: RwLock<Ring>,
    /// Per retention rule: replay ids at or below this may have been removed.
    floors: RwLock<Vec<u64>>,
    expired: AtomicU64,
    /// Held while an append commits (see `writer.rs`): the last creation time given out.
    commit_lock: Mutex<i64>,
    /// Appends queued for the writer thread and not yet committed. While any wait, an append
    /// is not written inline ([`writer::commit_now`]), so it cannot overtake them: a caller
    /// with appends in flight (see [`EventLog::queue_append`]) gets them stored in its order.
    waiting: AtomicUsize,
    /// Commits so far (so the background sync of a relaxed log skips an idle one).
    commits: AtomicU64,
    /// Commits the background sync of a relaxed log has synced (see `syncer.rs`).
    synced_commits: AtomicU64,
}

impl Inner {
    fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// Makes freshly committed events visible: to the in-memory tail, then to head watchers.
    fn publish_recent(&self, events: Vec<crate::StoredEvent>, head: u64) {
        self.recent.write().extend(events);
        self.head.send_replace(head);
    }

    fn floors(&self) -> parking_lot::RwLockReadGuard<'_, Vec<u64>> {
        self.floors.read()
    }
}

/// The embedded event log. Dropping it stops its threads once pending appends are written.
pub struct EmbeddedLog {
    inner: Arc<Inner>,
    requests: mpsc::Sender<AppendRequest>,
    _expiry: periodic::Handle,
    _syncer: Option<periodic::Handle>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("head", &self.inner.head())
            .finish_non_exhaustive()
    }
}

fn read_u64(meta: &Keyspace, key: &[u8]) -> Result<Option<u64>, LogError> {
    Ok(match meta.get(key)? {
        Some(value) => Some(u64::from_be_bytes(
            value
                .as_ref()
                .try_into()
                .map_err(|_| LogError::Corrupt(0))?,
        )),
        None => None,
    })
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LogError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let db = Database::builder(dir).open()?;
        // A smaller memtable than fjall's 64 MiB default bounds the journal that must be replayed
        // when the log is opened after a crash, which is most of the restart time.
        let events = db.keyspace("events", || {
            KeyspaceCreateOptions::default().max_memtable_size(EVENTS_MEMTABLE_BYTES)
        })?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        let records = db.keyspace("records", KeyspaceCreateOptions::default)?;
        let positions = db.keyspace("positions", KeyspaceCreateOptions::default)?;
        let by_channel = db.keyspace("by_channel", KeyspaceCreateOptions::default)?;
        index_existing_events(&events, &meta, &by_channel)?;

        let stored_head = read_u64(&meta, META_HEAD)?.unwrap_or(0);
        let last_key = match events.last_key_value() {
            Some(guard) => codec::replay_id(&guard.key()?).unwrap_or(0),
            None => 0,
        };
        let head = stored_head.max(last_key);
        let floors = options
            .retention
            .rules()
            .iter()
            .map(|rule| {
                let key = format!("{META_FLOOR_PREFIX}{}", rule.pattern);
                read_u64(&meta, key.as_bytes()).map(Option::unwrap_or_default)
            })
            .collect::<Result<Vec<u64>, LogError>>()?;
        let expired = read_u64(&meta, META_EXPIRED)?.unwrap_or(0);

        let inner = Arc::new(Inner {
            db,
            events,
            meta,
            records,
            positions,
            claims: Default::default(),
            by_channel,
            indexed_block: Mutex::new(IndexedBlock::default()),
            durability: options.durability,
            policy: options.retention.clone(),
            head: watch::Sender::new(head),
            recent: RwLock::new(Ring::new(options.recent_capacity, head)),
            floors: RwLock::new(floors),
            expired: AtomicU64::new(expired),
            commit_lock: Mutex::new(0),
            waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            synced_commits: AtomicU64::new(0),
        });
        let (requests, receiver) = mpsc::channel(1_024);
        let writer_inner = Arc::clone(&inner);
        let max_batch = options.max_batch.max(1);
        std::thread::Builder::new()
            .name("bayou-log-writer".into())
            .spawn(move || writer::run(writer_inner, receiver, max_batch))
            .map_err(|e| LogError::Storage(format!("cannot start the log writer: {e}")))?;
        let expiry = expiry::spawn(Arc::downgrade(&inner), options.retention_interval)?;
        let syncer = match options.durability {
            Durability::Relaxed => Some(syncer::spawn(
                Arc::downgrade(&inner),
                dir,
                syncer::SYNC_INTERVAL,
            )?),
            Durability::Sync => None,
        };
        tracing::info!(head, dir = %dir.display(), "event log opened");
        Ok(Self {
            inner,
            requests,
            _expiry: expiry,
            _syncer: syncer,
        })
    }

    /// Runs one retention pass now (normally done every `retention_interval`).
    pub fn expire_now(&self) -> Result<u64, LogError> {
        expiry::expire(&self.inner, bayou_protocol::time::now_millis())
    }

    /// Queues an append (see [`EventLog::queue_append`]). With relaxed durability it is written
    /// here, when called, if that cannot block; otherwise (and with sync durability) it joins
    /// the writer thread's queue.
    fn queue_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> QueuedAppend {
        if events.is_empty() && writes.is_empty() {
            return queued::answered(Ok(Vec::new()));
        }
        let (events, writes) = match self.inner.durability {
            Durability::Relaxed => match writer::commit_now(&self.inner, events, writes) {
                writer::Inline::Done(written) => return queued::answered(written),
                writer::Inline::Busy(events, writes) => (events, writes),
            },
            Durability::Sync => (events, writes),
        };
        let inner = Arc::clone(&self.inner);
        queued::queue_on(self.requests.clone(), move |reply| {
            inner.waiting.fetch_add(1, Ordering::SeqCst);
            AppendRequest {
                events,
                writes,
                reply,
            }
        })
    }

    /// Runs `work` on the database off the async workers: on Tokio's blocking pool inside a
    /// runtime, in place outside one (tools and tests that open the log directly).
    fn off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, LogError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Box::pin(async move {
                runtime
                    .spawn_blocking(move || work(&inner))
                    .await
                    .map_err(|e| LogError::Storage(format!("storage task failed: {e}")))?
            }),
            Err(_) => Box::pin(std::future::ready(work(&inner))),
        }
    }
}

/// The channels (by hash) whose index entry for the newest block is written. Events arrive in
/// replay id order, so only the newest block matters; older ones are never written again.
#[derive(Debug, Default)]
pub(crate) struct IndexedBlock {
    block: u64,
    channels: std::collections::HashSet<u64>,
}

impl IndexedBlock {
    /// Whether `(channel hash, block)` is known to be in the index.
    pub(crate) fn has(&self, (hash, block): (u64, u64)) -> bool {
        block == self.block && self.channels.contains(&hash)
    }

    /// Remembers that `(channel hash, block)` was written.
    pub(crate) fn record(&mut self, (hash, block): (u64, u64)) {
        if block > self.block {
            self.block = block;
            self.channels.clear();
        }
        if block == self.block {
            self.channels.insert(hash);
        }
    }
}

/// Logs written before the by-channel index existed get it once, at open.
fn index_existing_events(
    events: &Keyspace,
    meta: &Keyspace,
    by_channel: &Keyspace,
) -> Result<(), LogError> {
    if meta.get(META_INDEXED)?.is_some() {
        return Ok(());
    }
    let mut indexed = 0_u64;
    let mut current = IndexedBlock::default();
    for guard in events.iter() {
        let (key, value) = guard.into_inner()?;
        let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
        let (_, channel, _) = codec::decode_header(replay_id, &value)?;
        let block = (codec::channel_hash(channel), replay_id / codec::INDEX_BLOCK);
        if !current.has(block) {
            by_channel.insert(codec::index_key(block.0, block.1), [])?;
            current.record(block);
        }
        indexed += 1;
        if indexed.is_multiple_of(1_000_000) {
            tracing::info!(indexed, "indexing the event log by channel");
        }
    }
    meta.insert(META_INDEXED, [1])?;
    if indexed > 0 {
        tracing::info!(indexed, "event log indexed by channel");
    }
    Ok(())
}

/// Reads one channel's events through the by-channel index: only the blocks of replay ids the
/// channel appears in are read, so the work is proportional to what the channel holds (within
/// a block's worth per event), not to the log.
fn read_channel(
    inner: &Inner,
    channel: &str,
    after: u64,
    head: u64,
    max: usize,
) -> Result<ReadBatch, LogError> {
    let mut batch = ReadBatch {
        events: Vec::new(),
        scanned_through: head,
        reached_head: true,
    };
    let hash = codec::channel_hash(channel);
    let first = codec::index_key(hash, (after + 1) / codec::INDEX_BLOCK);
    let last = codec::index_key(hash, head / codec::INDEX_BLOCK);
    for guard in inner.by_channel.range(first..=last) {
        let block = codec::index_block(&guard.key()?).ok_or(LogError::Corrupt(0))?;
        let from = (block * codec::INDEX_BLOCK).max(after + 1);
        let to = ((block + 1) * codec::INDEX_BLOCK - 1).min(head);
        for record in inner.events.range(codec::key(from)..=codec::key(to)) {
            let (key, value) = record.into_inner()?;
            let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
            let (_, event_channel, _) = codec::decode_header(replay_id, &value)?;
            if event_channel != channel {
                continue;
            }
            batch.events.push(codec::decode(replay_id, &value)?);
            if batch.events.len() >= max {
                batch.scanned_through = replay_id;
                batch.reached_head = replay_id >= head;
                return Ok(batch);
            }
        }
    }
    Ok(batch)
}

/// Reads from the database, examining at most `scan_limit` records (see [`EventLog::read`]).
fn read_from_disk(
    inner: &Inner,
    after: u64,
    head: u64,
    filter: &ChannelFilter,
    max: usize,
    scan_limit: usize,
) -> Result<ReadBatch, LogError> {
    let mut batch = ReadBatch {
        events: Vec::new(),
        scanned_through: after,
        reached_head: false,
    };
    let mut scanned = 0;
    for guard in inner.events.range(codec::key(after + 1)..=codec::key(head)) {
        let (key, value) = guard.into_inner()?;
        let replay_id = codec::replay_id(&key).ok_or(LogError::Corrupt(0))?;
        let (_, channel, _) = codec::decode_header(replay_id, &value)?;
        if filter.matches(channel) {
            batch.events.push(codec::decode(replay_id, &value)?);
        }
        batch.scanned_through = replay_id;
        scanned += 1;
        if batch.events.len() >= max || scanned >= scan_limit {
            break;
        }
    }
    if batch.scanned_through >= head || (scanned < scan_limit && batch.events.len() < max) {
        batch.scanned_through = head;
        batch.reached_head = true;
    }
    Ok(batch)
}

impl EventLog for EmbeddedLog {
    fn queue_append(&self, events: Vec<NewEvent>) -> QueuedAppend {
        self.queue_with_records(events, Vec::new())
    }

    /// Served from the in-memory tail when it covers `after` (the engine's tail reads, almost
    /// always), from disk on the blocking pool otherwise (replays of older events).
    fn read(
        &self,
        after: u64,
        filter: ChannelFilter,
        max: usize,
        scan_limit: usize,
    ) -> StoreFuture<'_, ReadBatch> {
        let head = self.inner.head();
        if after >= head {
            return Box::pin(std::future::ready(Ok(ReadBatch {
                events: Vec::new(),
                scanned_through: after,
                reached_head: true,
            })));
        }
        let recent = self
            .inner
            .recent
            .read()
            .read(after, &filter, max, scan_limit);
        if let Some(batch) = recent {
            return Box::pin(std::future::ready(Ok(batch)));
        }
        self.off_runtime(move |inner| match &filter {
            ChannelFilter::Pattern(channel) if !channel.contains('*') => {
                read_channel(inner, channel, after, head, max)
            }
            _ => read_from_disk(inner, after, head, &filter, max, scan_limit),
        })
    }

    fn head(&self) -> u64 {
        self.inner.head()
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    fn retention_floor(&self, channel: &str) -> u64 {
        let floors = self.inner.floors();
        if channel.contains('*') {
            // A wildcard may span several rules: be conservative.
            return floors.iter().copied().max().unwrap_or(0);
        }
        floors[self.inner.policy.rule_index(channel)]
    }

    fn expire_through(&self, replay_id: u64) -> Result<u64, LogError> {
        expiry::expire_through(&self.inner, replay_id)
    }

    fn stats(&self) -> LogStats {
        let head = self.inner.head();
        let expired = self.inner.expired.load(Ordering::SeqCst);
        LogStats {
            head,
            events: head.saturating_sub(expired),
            expired,
            disk_bytes: self.inner.db.disk_space().unwrap_or(0),
        }
    }

    fn retention_rules(&self) -> Vec<crate::retention::RetentionRule> {
        self.inner.policy.rules().to_vec()
    }
}

impl RecordStore for EmbeddedLog {
    fn append_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> AppendFuture {
        let queued = self.queue_with_records(events, writes);
        Box::pin(async move { queued.await?.await })
    }

    fn record(&self, key: &[u8]) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.to_vec();
        self.off_runtime(move |inner| Ok(inner.records.get(key)?.map(|v| v.to_vec())))
    }

    fn records_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        max: usize,
    ) -> StoreFuture<'_, Vec<crate::StoredRecord>> {
        let prefix = prefix.to_vec();
        let after = after.map(<[u8]>::to_vec);
        self.off_runtime(move |inner| {
            let mut page = Vec::new();
            let records: Box<dyn Iterator<Item = fjall::Guard>> = match &after {
                Some(after) => Box::new(inner.records.range::<&[u8], _>((
                    std::ops::Bound::Excluded(after.as_slice()),
                    std::ops::Bound::Unbounded,
                ))),
                None => Box::new(inner.records.prefix(&prefix)),
            };
            for guard in records {
                let (key, value) = guard.into_inner()?;
                if !key.starts_with(&prefix) || page.len() >= max {
                    break;
                }
                page.push((key.to_vec(), value.to_vec()));
            }
            Ok(page)
        })
    }

    fn records(&self, prefix: &[u8]) -> StoreFuture<'_, Vec<crate::StoredRecord>> {
        let prefix = prefix.to_vec();
        self.off_runtime(move |inner| {
            inner
                .records
                .prefix(prefix)
                .map(|guard| {
                    let (key, value) = guard.into_inner()?;
                    Ok((key.to_vec(), value.to_vec()))
                })
                .collect()
        })
    }
}
