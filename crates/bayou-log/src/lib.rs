//! The storage seam: everything Bayou keeps that must outlive a request, behind traits, with
//! the embedded implementation next to each — so that a clustered backend is one more
//! implementation and neither the engine nor the org changes.
//!
//! Where things are kept:
//!
//! - [`EventLog`]: the durable event log behind replay. Every event on a broadcast channel is
//!   appended here before anyone receives it, and gets the next value of one global `u64`
//!   sequence — its *replay id* — so per channel ids increase but are not contiguous, exactly as
//!   Salesforce documents. The engine never delivers from the publish call: it follows the
//!   log's tail ([`EventLog::read`] after the last id it dispatched, woken by
//!   [`EventLog::watch_head`]).
//! - [`RecordStore`]: the org's records (sObjects, PushTopics, StreamingChannels, platform event
//!   types, the CDC selection), written in the same atomic batch as the events they cause.
//! - [`TokenStore`]: access and refresh tokens.
//! - [`UsageCounters`]: rolling daily counters (delivery allocations).
//! - [`PositionStore`]: committed replay positions of named subscribers.
//! - [`Storage`]: one of each, as the binary hands them to the org and the engine.
//!
//! Reads that may touch the disk or the network are `async`: the embedded backend serves
//! them from memory when it can and otherwise runs them on Tokio's blocking pool, never on an
//! async worker. Checks on the hot path (is this token live? is this allocation used up?) are
//! synchronous and answered from memory, which a network backend keeps as a local replica.
//!
//! Producers serialize an event once, when it is appended: [`NewEvent::encode`] is called with
//! the assigned replay id and timestamp and returns the bytes every subscriber will receive.
//!
//! - [`embedded`]: the default backend, on fjall, with group commit and `fdatasync`.
//! - [`retention`]: how long events are kept, by channel pattern.
//! - [`recent`]: the newest events in memory, for the engine's tail (both backends).
//! - [`queued`]: appends queued on a writer's channel, then awaited (both backends).

#![forbid(unsafe_code)]

mod counters;
pub mod embedded;
mod positions;
mod presence;
pub mod queued;
pub mod recent;
pub mod retention;
mod storage;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use counters::UsageCounters;
pub use embedded::{EmbeddedLog, EmbeddedOptions};
pub use positions::{LocalClaims, PositionStore};
pub use presence::RemotePresence;
pub use storage::Storage;
pub use tokens::{TokenGrant, TokenKind, TokenStore};

pub use retention::{RetentionPolicy, RetentionRule};

/// Encodes an event once its replay id and creation time (epoch ms) are known. `Fn`, not
/// `FnOnce`: a clustered log that loses the race for a sequence number encodes again with the
/// next one.
pub type Encoder = Box<dyn Fn(u64, i64) -> Bytes + Send + Sync>;

/// An event to append.
pub struct NewEvent {
    /// The concrete channel it was published on.
    pub channel: String,
    /// Produces the bytes delivered to subscribers.
    pub encode: Encoder,
    /// Who may receive it; `None`: every subscriber of the channel.
    pub audience: Option<Audience>,
}

impl NewEvent {
    /// An event for every subscriber of `channel`.
    pub fn new(channel: impl Into<String>, encode: Encoder) -> Self {
        Self {
            channel: channel.into(),
            encode,
            audience: None,
        }
    }
}

/// The users an event is meant for (a generic streaming push with `userIds`): only their
/// sessions receive it, live or by replay. Stored with the event, so replay honours it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(Arc<str>);

impl Audience {
    /// The audience of these user ids; `None` for an empty list (everyone). Ids are joined with
    /// commas, so an id containing a comma is dropped.
    pub fn of<S: AsRef<str>>(user_ids: impl IntoIterator<Item = S>) -> Option<Self> {
        let joined = user_ids
            .into_iter()
            .filter(|id| !id.as_ref().is_empty() && !id.as_ref().contains(','))
            .map(|id| id.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        (!joined.is_empty()).then(|| Self(Arc::from(joined)))
    }

    /// The audience as stored: user ids joined by commas.
    pub fn from_stored(joined: &str) -> Option<Self> {
        (!joined.is_empty()).then(|| Self(Arc::from(joined)))
    }

    /// Whether `user_id` is in the audience.
    pub fn includes(&self, user_id: &str) -> bool {
        self.0.split(',').any(|id| id == user_id)
    }

    /// The user ids.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.0.split(',')
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEvent")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// An event as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub replay_id: u64,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
    pub channel: Arc<str>,
    /// The delivered message, encoded once.
    pub bytes: Bytes,
    /// Who may receive it; `None`: every subscriber.
    pub audience: Option<Audience>,
}

impl StoredEvent {
    /// Whether a session of `user_id` (`None`: an anonymous session) may receive this event.
    pub fn is_for(&self, user_id: Option<&str>) -> bool {
        match (&self.audience, user_id) {
            (None, _) => true,
            (Some(audience), Some(user)) => audience.includes(user),
            (Some(_), None) => false,
        }
    }
}

/// What one [`EventLog::read`] found.
#[derive(Debug, Clone, Default)]
pub struct ReadBatch {
    /// Matching events, in replay id order.
    pub events: Vec<StoredEvent>,
    /// The last replay id examined: the next read continues after it. Equals the `after` passed
    /// in when nothing was examined.
    pub scanned_through: u64,
    /// Whether the read reached the log's head (nothing newer existed when it ran).
    pub reached_head: bool,
}

/// Errors from the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("event log storage error: {0}")]
    Storage(String),
    #[error("event log is closed")]
    Closed,
    #[error("corrupt event record at replay id {0}")]
    Corrupt(u64),
    /// The storage cannot take writes now (a clustered backend without quorum, say); the same
    /// request may succeed later.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A record write computed from a version of the record that is no longer the newest
    /// ([`RecordWrite::expected_version`]): another node changed it meanwhile. Nothing of the
    /// write was stored; read the record again and redo the change.
    #[error("record changed meanwhile: {0}")]
    Conflict(String),
}

impl From<fjall::Error> for LogError {
    fn from(e: fjall::Error) -> Self {
        LogError::Storage(e.to_string())
    }
}

/// Counters describing the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// The highest replay id assigned (0 when nothing was ever appended).
    pub head: u64,
    /// Events currently retained.
    pub events: u64,
    /// Events removed by retention since the log was created.
    pub expired: u64,
    /// Bytes the log's files take on disk.
    pub disk_bytes: u64,
}

/// A change to a stored record, written in the same atomic batch as the events it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    pub key: Vec<u8>,
    /// `None` removes the record.
    pub value: Option<Vec<u8>>,
    /// The version of the record this write was computed from ([`Versioned::version`]; 0:
    /// there was none). A store whose records another node may write meanwhile refuses the
    /// whole append with [`LogError::Conflict`] when the record is no longer at that version,
    /// so that a read-modify-write never overwrites a change it did not see. `None`: written
    /// whatever is there.
    pub expected_version: Option<u64>,
}

/// A record with the version a write must name to replace it (see
/// [`RecordStore::versioned_record`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned {
    pub value: Option<Vec<u8>>,
    /// The record's version (0: never written), or `None` from a store that has one writer
    /// and checks no versions.
    pub version: Option<u64>,
}

/// A stored record: its key and value.
pub type StoredRecord = (Vec<u8>, Vec<u8>);

/// Keys of records that changed together.
pub type RecordKeys = Arc<[Vec<u8>]>;

/// Records another node wrote, as a node announces them (see [`RecordStore::record_changes`]).
#[derive(Debug, Clone)]
pub struct RecordChanges {
    /// Where in the shared log the node was once they were applied to its copy: announcements
    /// come in increasing order of it.
    pub through: u64,
    pub keys: RecordKeys,
}

/// A future returned by [`EventLog::append`].
pub type AppendFuture = Pin<Box<dyn Future<Output = Result<Vec<u64>, LogError>> + Send>>;

/// A future returned by [`EventLog::queue_append`]: resolves once the append is queued, with the
/// future of its replay ids.
pub type QueuedAppend = Pin<Box<dyn Future<Output = Result<AppendFuture, LogError>> + Send>>;

/// A future returned by the stores' reads and writes.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LogError>> + Send + 'a>>;

/// Which channels a read returns: data, not a closure, so that a network backend can turn it
/// into a server-side filter (a NATS subject, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelFilter {
    /// Every channel (the engine's tail).
    All,
    /// Channels matching a Bayeux pattern (`/topic/T`, `/chat/*`, `/event/**`).
    Pattern(String),
}

impl ChannelFilter {
    /// Whether `channel` passes.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelFilter::All => true,
            ChannelFilter::Pattern(pattern) => {
                bayou_protocol::channel::pattern_matches(pattern, channel)
            }
        }
    }
}

/// The durable, replayable event log.
pub trait EventLog: Send + Sync + 'static {
    /// Appends events in order. The future resolves with their replay ids once they are durable
    /// (or, in a relaxed durability mode, written).
    fn append(&self, events: Vec<NewEvent>) -> AppendFuture {
        let queued = self.queue_append(events);
        Box::pin(async move { queued.await?.await })
    }

    /// Puts events in the log's queue, behind every append queued before them, and resolves as
    /// soon as they are queued (not yet stored) with the future of their replay ids. A caller
    /// that awaits each queueing before the next keeps many appends in flight whose events are
    /// still stored in the order it queued them: a WebSocket publisher's frames, answered in
    /// order while the log stores them together.
    fn queue_append(&self, events: Vec<NewEvent>) -> QueuedAppend;

    /// Reads events with replay id greater than `after` whose channel passes `filter`, in order:
    /// at most `max` events, examining at most `scan_limit` records (so a selective filter cannot
    /// make one call arbitrarily long).
    fn read(
        &self,
        after: u64,
        filter: ChannelFilter,
        max: usize,
        scan_limit: usize,
    ) -> StoreFuture<'_, ReadBatch>;

    /// The highest durable replay id.
    fn head(&self) -> u64;

    /// Changes whenever the head advances.
    fn watch_head(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The highest replay id at or below which events of `channel` may have been removed by
    /// retention: replaying from an id lower than this would miss events.
    fn retention_floor(&self, channel: &str) -> u64;

    /// Removes every event with a replay id up to and including `replay_id`, as if retention had
    /// expired them (for fault injection and tests). Returns how many were removed.
    fn expire_through(&self, replay_id: u64) -> Result<u64, LogError>;

    /// Current counters.
    fn stats(&self) -> LogStats;

    /// The retention rules in force, in the order they are tried (for the operator view). A
    /// log without rules of its own reports none.
    fn retention_rules(&self) -> Vec<retention::RetentionRule> {
        Vec::new()
    }

    /// Waits, at most `within`, until the head reaches `replay_id` — when this log knows such
    /// an id was stored but has not taken it yet (a cluster node's tail a moment behind the
    /// node a client came from). Resolves at once otherwise, and for a log of one process.
    fn catch_up(&self, replay_id: u64, within: std::time::Duration) -> StoreFuture<'_, ()> {
        let _ = (replay_id, within);
        Box::pin(std::future::ready(Ok(())))
    }

    /// This node's place in a cluster (for `/healthz`, the operator view and `/metrics`);
    /// `None` for a log of one process.
    fn node_report(&self) -> Option<NodeReport> {
        None
    }
}

/// How a node of a cluster is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub node_id: String,
    /// The connection to the cluster's engine: `connected`, `disconnected` or `pending`.
    pub connection: &'static str,
    /// The server this node talks to.
    pub server: String,
    /// The log's stream.
    pub stream: String,
    pub replicas: usize,
    /// How many sequences the node's tail is behind the stream's last.
    pub lag: u64,
    /// Every node whose heartbeat is current (this one included).
    pub nodes: Vec<NodeSeen>,
}

/// A node as its heartbeat last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    pub node_id: String,
    /// Its tail position.
    pub head: u64,
    /// When it last wrote its heartbeat, epoch ms.
    pub seen_ms: i64,
}

/// A log that also stores records (the emulated org's sObjects), so that a record change and
/// the events it causes are written in one atomic batch: either both survive a crash or
/// neither does.
pub trait RecordStore: EventLog {
    /// Appends `events` and applies `writes` atomically; resolves with the events' replay ids
    /// once durable.
    fn append_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> AppendFuture;

    /// One record.
    fn record(&self, key: &[u8]) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// One record with its version, for a read-modify-write that names the version it read in
    /// [`RecordWrite::expected_version`]. The default has no version: a store with one writer
    /// (whose caller serialises its own writes) needs none.
    fn versioned_record(&self, key: &[u8]) -> StoreFuture<'_, Versioned> {
        let key = key.to_vec();
        Box::pin(async move {
            Ok(Versioned {
                value: self.record(&key).await?,
                version: None,
            })
        })
    }

    /// Every record whose key starts with `prefix`, in key order.
    fn records(&self, prefix: &[u8]) -> StoreFuture<'_, Vec<StoredRecord>>;

    /// At most `max` records whose key starts with `prefix`, in key order, after the key
    /// `after` (from the first when `None`): a large table read a page at a time.
    fn records_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        max: usize,
    ) -> StoreFuture<'_, Vec<StoredRecord>>;

    /// Stores `value` under `key` unless a record is there, and resolves with the record that
    /// is stored afterwards (the one found, or `value`): several nodes starting at once agree on
    /// one. The default reads then writes, which is enough for a store with one writer.
    fn insert_if_absent(&self, key: &[u8], value: Vec<u8>) -> StoreFuture<'_, Vec<u8>> {
        let key = key.to_vec();
        Box::pin(async move {
            if let Some(existing) = self.record(&key).await? {
                return Ok(existing);
            }
            let write = RecordWrite {
                key,
                value: Some(value.clone()),
                expected_version: None,
            };
            self.append_with_records(Vec::new(), vec![write]).await?;
            Ok(value)
        })
    }

    /// The keys of records written by someone else (another node of a cluster), as they
    /// arrive, so that what the org caches from its records can be read again. `None`: this
    /// process is the only writer. A receiver that falls behind is told it lagged and should
    /// read everything again.
    fn record_changes(&self) -> Option<tokio::sync::broadcast::Receiver<RecordChanges>> {
        None
    }

    /// The `through` of the last change announced on [`Self::record_changes`] (0 before any).
    fn changes_announced_through(&self) -> u64 {
        0
    }

    /// Waits, at most `within`, until this node has taken every write the shared store held
    /// when called — other nodes' included — and resolves with
    /// [`Self::changes_announced_through`] then. What answers "not found" may be a moment
    /// behind another node (a client that created a PushTopic through one node and subscribes
    /// through another): it syncs and looks again before saying so. At once for a store with
    /// one writer.
    fn sync(&self, within: std::time::Duration) -> StoreFuture<'_, u64> {
        let _ = within;
        Box::pin(std::future::ready(Ok(0)))
    }
}
