//! The event log and the org's records on one JetStream stream.
//!
//! - Replay id = stream sequence. Events and record writes share the stream, so a record change
//!   and the events it causes are one atomic batch ([`writer`]) and ids stay one increasing
//!   sequence, per channel increasing but not contiguous, as Salesforce documents. An event is
//!   stored with a placeholder where its replay id goes, filled in by each node as it reads the
//!   event ([`placeholder`]): writers never need a sequence number before JetStream assigns it.
//! - Retention by channel kind is per-message TTL (`Nats-TTL`), not the stream's `max_age`:
//!   `max_age` is one age for a whole stream, and separate streams per kind would each count
//!   their own sequence — two events with one replay id. Records carry no TTL.
//! - Every node follows the stream's tail ([`tail`]): events go to an in-memory ring the engine
//!   reads, record writes to this node's copy of the records ([`records`]). Nothing is
//!   delivered from the publish call, so a publish on one node reaches every node the same way,
//!   with the same replay id.
//! - Older events are read from JetStream with a subject filter ([`replay`]); what retention may
//!   have removed is tracked per rule ([`floors`]) so that a replay from a removed id gets
//!   Salesforce's error instead of a consumer that silently starts later.

mod floors;
mod headers;
mod placeholder;
mod records;
mod replay;
mod tail;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream;
use bayou_log::{
    queued, AppendFuture, ChannelFilter, EventLog, LogError, LogStats, NewEvent, QueuedAppend,
    ReadBatch, RecordStore, RecordWrite, RetentionPolicy, StoreFuture,
};
use parking_lot::RwLock;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::subjects::Names;
use bayou_log::recent::Ring;
use records::Records;

/// Events kept in memory for the engine's tail.
const RING_CAPACITY: usize = 16_384;

/// What the log's tasks share.
pub(crate) struct Shared {
    pub names: Names,
    pub node_id: String,
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub stream: jetstream::stream::Stream,
    pub policy: RetentionPolicy,
    pub head: watch::Sender<u64>,
    pub ring: RwLock<Ring>,
    pub records: RwLock<Records>,
    /// Keys of other nodes' record writes (see [`RecordStore::record_changes`]).
    pub record_changes: broadcast::Sender<bayou_log::RecordChanges>,
    /// The `through` of the last announcement on `record_changes`.
    pub announced_through: AtomicU64,
    /// Per retention rule: replay ids at or below this may have been removed.
    pub floors: RwLock<Vec<u64>>,
    /// The stream's last sequence, as last seen (for the tail's lag).
    pub stream_last: AtomicU64,
    /// The stream's last sequence asked of JetStream, once for every caller waiting.
    pub last_sequence: crate::last_sequence::LastSequence,
    /// Events removed by `expire_through` on this node.
    pub expired: AtomicU64,
    /// Events (records not counted) and bytes (records included) in the stream, as last read.
    pub events_stored: AtomicU64,
    pub stream_bytes: AtomicU64,
    /// Superseded record messages to delete from the stream.
    pub superseded: mpsc::UnboundedSender<u64>,
    /// The nodes whose heartbeat is current (kept by [`crate::ClusterStatus`]).
    pub nodes: crate::nodes::NodesSeen,
    pub replicas: usize,
    /// Changes on every (re)connection to NATS.
    pub reconnects: Arc<watch::Sender<u64>>,
}

impl Shared {
    /// Raises the floors of every rule to at least `replay_id`.
    pub fn raise_floors(&self, replay_id: u64) {
        for floor in self.floors.write().iter_mut() {
            *floor = (*floor).max(replay_id);
        }
    }

    /// The stream's last sequence as JetStream says it now (what this node last knew when
    /// NATS does not answer).
    pub async fn stream_last_now(&self) -> u64 {
        let ask = || async {
            let info = self.stream.get_info().await;
            info.map(|info| info.state.last_sequence)
                .map_err(|e| e.to_string())
        };
        let last = match self.last_sequence.get(ask).await {
            Ok(last) => last,
            Err(_) => self.stream_last.load(Ordering::Relaxed),
        };
        self.stream_last.fetch_max(last, Ordering::Relaxed);
        last
    }
}

/// The log on JetStream. Dropping it stops its tasks.
pub struct JetStreamLog {
    shared: Arc<Shared>,
    requests: mpsc::Sender<writer::AppendRequest>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for JetStreamLog {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("stream", &self.shared.names.log_stream())
            .field("head", &*self.shared.head.borrow())
            .finish_non_exhaustive()
    }
}

impl JetStreamLog {
    /// Loads the records, then follows the stream from its current end.
    pub(crate) async fn open(
        connected: &crate::connect::Connected,
        node_id: &str,
        policy: RetentionPolicy,
    ) -> Result<Self, crate::ClusterError> {
        let mut stream = connected.log.clone();
        let state = stream
            .info()
            .await
            .map_err(|e| crate::ClusterError::Nats(format!("stream info: {e}")))?
            .state
            .clone();
        let last = state.last_sequence;
        let records = replay::load_records(&stream, &connected.names).await?;
        let (superseded, superseded_rx) = mpsc::unbounded_channel();
        let rules = policy.rules().len();
        let shared = Arc::new(Shared {
            names: connected.names.clone(),
            node_id: node_id.to_owned(),
            client: connected.client.clone(),
            jetstream: connected.jetstream.clone(),
            stream,
            policy,
            head: watch::Sender::new(last),
            ring: RwLock::new(Ring::new(RING_CAPACITY, last)),
            records: RwLock::new(records),
            record_changes: broadcast::Sender::new(1_024),
            announced_through: AtomicU64::new(0),
            floors: RwLock::new(vec![0; rules]),
            stream_last: AtomicU64::new(last),
            last_sequence: Default::default(),
            expired: AtomicU64::new(0),
            events_stored: AtomicU64::new(0),
            stream_bytes: AtomicU64::new(state.bytes),
            superseded,
            nodes: Default::default(),
            replicas: connected.replicas,
            reconnects: Arc::clone(&connected.reconnects),
        });
        floors::refresh(&shared).await;
        let (requests, receiver) = mpsc::channel(1_024);
        let tasks = vec![
            tokio::spawn(tail::run(Arc::clone(&shared), last)),
            tokio::spawn(writer::run(Arc::clone(&shared), receiver)),
            tokio::spawn(floors::run(Arc::downgrade(&shared))),
            tokio::spawn(writer::delete_superseded(
                Arc::downgrade(&shared),
                superseded_rx,
            )),
        ];
        tracing::info!(head = last, stream = %shared.names.log_stream(), "event log on JetStream opened");
        Ok(Self {
            shared,
            requests,
            tasks,
        })
    }

    /// Queues an append (see [`EventLog::queue_append`]) on the node's writer, which sends to
    /// JetStream in the order appends were queued.
    fn queue_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> QueuedAppend {
        if events.is_empty() && writes.is_empty() {
            return queued::answered(Ok(Vec::new()));
        }
        queued::queue_on(self.requests.clone(), move |reply| writer::AppendRequest {
            events,
            writes,
            reply,
        })
    }

    /// The stream's last sequence minus this node's tail position: how far behind it is.
    pub fn lag(&self) -> u64 {
        self.shared
            .stream_last
            .load(Ordering::Relaxed)
            .saturating_sub(*self.shared.head.borrow())
    }

    pub(crate) fn nodes_seen(&self) -> crate::nodes::NodesSeen {
        Arc::clone(&self.shared.nodes)
    }

    /// How this node is doing, for operators.
    pub fn report(&self) -> bayou_log::NodeReport {
        use async_nats::connection::State;
        let client = &self.shared.client;
        let info = client.server_info();
        bayou_log::NodeReport {
            node_id: self.shared.node_id.clone(),
            connection: match client.connection_state() {
                State::Connected => "connected",
                State::Disconnected => "disconnected",
                State::Pending => "pending",
            },
            server: format!(
                "{} ({}:{}, {})",
                info.server_name, info.host, info.port, info.version
            ),
            stream: self.shared.names.log_stream(),
            replicas: self.shared.replicas,
            lag: self.lag(),
            nodes: self.shared.nodes.lock().values().cloned().collect(),
        }
    }
}

impl EventLog for JetStreamLog {
    fn queue_append(&self, events: Vec<NewEvent>) -> QueuedAppend {
        self.queue_with_records(events, Vec::new())
    }

    fn read(
        &self,
        after: u64,
        filter: ChannelFilter,
        max: usize,
        scan_limit: usize,
    ) -> StoreFuture<'_, ReadBatch> {
        let head = *self.shared.head.borrow();
        if after >= head {
            return Box::pin(std::future::ready(Ok(ReadBatch {
                events: Vec::new(),
                scanned_through: after,
                reached_head: true,
            })));
        }
        if let Some(batch) = self
            .shared
            .ring
            .read()
            .read(after, &filter, max, scan_limit)
        {
            return Box::pin(std::future::ready(Ok(batch)));
        }
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { replay::read(&shared, after, head, &filter, max).await })
    }

    fn head(&self) -> u64 {
        *self.shared.head.borrow()
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    fn retention_floor(&self, channel: &str) -> u64 {
        let floors = self.shared.floors.read();
        if channel.contains('*') {
            return floors.iter().copied().max().unwrap_or(0);
        }
        floors
            .get(self.shared.policy.rule_index(channel))
            .copied()
            .unwrap_or(0)
    }

    /// Refuses replays from below at once on this node, then purges the events from the
    /// stream and records the new floor for every node, in the background (the trait is
    /// synchronous: this is fault injection, not a hot path). Returns how many of the removed
    /// events this node held in memory.
    fn expire_through(&self, replay_id: u64) -> Result<u64, LogError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| LogError::Storage("expiring events needs the async runtime".into()))?;
        self.shared.raise_floors(replay_id);
        let removed = {
            let mut ring = self.shared.ring.write();
            let before = ring.len();
            ring.forget_through(replay_id);
            before - ring.len()
        } as u64;
        self.shared.expired.fetch_add(removed, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        let requests = self.requests.clone();
        runtime.spawn(async move {
            let purge = shared
                .stream
                .purge()
                .filter(shared.names.all_events())
                .sequence(replay_id + 1)
                .await;
            if let Err(e) = purge {
                tracing::warn!(replay_id, "cannot purge expired events: {e}");
            }
            // The figures in /healthz follow the purge at once, not at the next refresh.
            floors::refresh(&shared).await;
            let current = floors::expired_through(&shared);
            let write = RecordWrite {
                key: floors::EXPIRED_THROUGH_KEY.to_vec(),
                value: Some(current.max(replay_id).to_be_bytes().to_vec()),
                expected_version: None,
            };
            let (reply, done) = oneshot::channel();
            let request = writer::AppendRequest {
                events: Vec::new(),
                writes: vec![write],
                reply,
            };
            if requests.send(request).await.is_ok() {
                if let Ok(Err(e)) = done.await {
                    tracing::warn!(replay_id, "cannot record the expired floor: {e}");
                }
            }
        });
        Ok(removed)
    }

    fn stats(&self) -> LogStats {
        let head = *self.shared.head.borrow();
        // The stream's own figures, refreshed with the retention floors (and after a purge): the
        // events it holds, and its bytes — records included — as JetStream stores each replica.
        LogStats {
            head,
            events: self.shared.events_stored.load(Ordering::Relaxed),
            expired: self.shared.expired.load(Ordering::Relaxed),
            disk_bytes: self.shared.stream_bytes.load(Ordering::Relaxed),
        }
    }

    fn retention_rules(&self) -> Vec<bayou_log::RetentionRule> {
        self.shared.policy.rules().to_vec()
    }

    fn catch_up(&self, replay_id: u64, within: std::time::Duration) -> StoreFuture<'_, ()> {
        let shared = Arc::clone(&self.shared);
        let mut head = self.shared.head.subscribe();
        Box::pin(async move {
            if *head.borrow() >= replay_id {
                return Ok(());
            }
            // Is the id stored at all? Ask the stream (a rare path: an id newer than the tail).
            if replay_id > shared.stream_last_now().await {
                return Ok(());
            }
            // Whether it got there or not, the caller decides with the head it finds.
            let _ = tokio::time::timeout(within, head.wait_for(|h| *h >= replay_id)).await;
            Ok(())
        })
    }

    fn node_report(&self) -> Option<bayou_log::NodeReport> {
        Some(self.report())
    }
}

impl RecordStore for JetStreamLog {
    fn append_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> AppendFuture {
        let queued = self.queue_with_records(events, writes);
        Box::pin(async move { queued.await?.await })
    }

    fn record(&self, key: &[u8]) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(std::future::ready(Ok(self.shared.records.read().get(key))))
    }

    fn versioned_record(&self, key: &[u8]) -> StoreFuture<'_, bayou_log::Versioned> {
        Box::pin(std::future::ready(Ok(self
            .shared
            .records
            .read()
            .versioned(key))))
    }

    fn records(&self, prefix: &[u8]) -> StoreFuture<'_, Vec<bayou_log::StoredRecord>> {
        let page = self.shared.records.read().page(prefix, None, usize::MAX);
        Box::pin(std::future::ready(Ok(page)))
    }

    fn records_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        max: usize,
    ) -> StoreFuture<'_, Vec<bayou_log::StoredRecord>> {
        let page = self.shared.records.read().page(prefix, after, max);
        Box::pin(std::future::ready(Ok(page)))
    }

    fn insert_if_absent(&self, key: &[u8], value: Vec<u8>) -> StoreFuture<'_, Vec<u8>> {
        let shared = Arc::clone(&self.shared);
        let key = key.to_vec();
        Box::pin(async move { writer::insert_if_absent(&shared, key, value).await })
    }

    fn record_changes(&self) -> Option<broadcast::Receiver<bayou_log::RecordChanges>> {
        Some(self.shared.record_changes.subscribe())
    }

    fn changes_announced_through(&self) -> u64 {
        self.shared.announced_through.load(Ordering::Acquire)
    }

    fn sync(&self, within: std::time::Duration) -> StoreFuture<'_, u64> {
        let shared = Arc::clone(&self.shared);
        let mut head = self.shared.head.subscribe();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + within;
            let last = tokio::time::timeout_at(deadline, shared.stream_last_now())
                .await
                .unwrap_or_else(|_| shared.stream_last.load(Ordering::Relaxed));
            // The tail announces what it applied before it moves the head past it.
            let _ = tokio::time::timeout_at(deadline, head.wait_for(|h| *h >= last)).await;
            Ok(shared.announced_through.load(Ordering::Acquire))
        })
    }
}
