//! A store whose event appends are acknowledged only when the test says so: the events are
//! queued and written as usual, but the future of their replay ids waits for a permit the test
//! hands out. With it a test sees what a caller queues while nothing it queued is answered
//! (a WebSocket publisher's frames, a `PublishStream`'s requests), without sleeping.
//! Everything else passes straight to the store inside.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bayou_log::{
    AppendFuture, EventLog, LogError, NewEvent, QueuedAppend, RecordChanges, RecordStore,
    RecordWrite, StoreFuture, StoredRecord, Versioned,
};
use tokio::sync::{broadcast, watch};

/// See the module docs.
pub struct HeldAcks {
    inner: Arc<dyn RecordStore>,
    released: watch::Receiver<Released>,
    queued: Arc<AtomicUsize>,
}

/// How far the test has let acknowledgements through.
#[derive(Default)]
struct Released {
    /// Appends queued before this place are answered.
    through: usize,
    /// Places answered with an error instead of their replay ids.
    failed: Vec<usize>,
}

/// The test's side of a [`HeldAcks`]: how many appends were queued, and how many of their
/// acknowledgements are released.
#[derive(Clone)]
pub struct AckGate {
    released: Arc<watch::Sender<Released>>,
    queued: Arc<AtomicUsize>,
}

impl AckGate {
    /// A gate that releases nothing yet: every acknowledgement waits.
    pub fn new() -> Self {
        Self {
            released: Arc::new(watch::Sender::new(Released::default())),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `inner` with every event append's acknowledgement held at this gate.
    pub fn hold(&self, inner: Arc<dyn RecordStore>) -> HeldAcks {
        HeldAcks {
            inner,
            released: self.released.subscribe(),
            queued: Arc::clone(&self.queued),
        }
    }

    /// Appends queued so far (answered or not).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Lets the next `count` acknowledgements through, in the order their appends were queued.
    pub fn release(&self, count: usize) {
        self.released
            .send_modify(|released| released.through += count);
    }

    /// Answers the next `count` acknowledgements with an error (the store could not confirm
    /// the write), in the order their appends were queued.
    pub fn fail(&self, count: usize) {
        self.released.send_modify(|released| {
            released
                .failed
                .extend(released.through..released.through + count);
            released.through += count;
        });
    }
}

impl Default for AckGate {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog for HeldAcks {
    fn queue_append(&self, events: Vec<NewEvent>) -> QueuedAppend {
        let queued = self.inner.queue_append(events);
        let mut released = self.released.clone();
        let count = Arc::clone(&self.queued);
        Box::pin(async move {
            let stored = queued.await?;
            let place = count.fetch_add(1, Ordering::SeqCst);
            let held: AppendFuture = Box::pin(async move {
                let ids = stored.await;
                let released = released
                    .wait_for(|released| released.through > place)
                    .await
                    .map_err(|_| LogError::Closed)?;
                if released.failed.contains(&place) {
                    return Err(LogError::Unavailable(
                        "the acknowledgement was failed by the test".into(),
                    ));
                }
                ids
            });
            Ok(held)
        })
    }
    crate::forward_event_log!();
}

impl RecordStore for HeldAcks {
    fn append_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> AppendFuture {
        self.inner.append_with_records(events, writes)
    }
    fn record(&self, key: &[u8]) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.inner.record(key)
    }
    fn versioned_record(&self, key: &[u8]) -> StoreFuture<'_, Versioned> {
        self.inner.versioned_record(key)
    }
    fn records(&self, prefix: &[u8]) -> StoreFuture<'_, Vec<StoredRecord>> {
        self.inner.records(prefix)
    }
    fn records_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        max: usize,
    ) -> StoreFuture<'_, Vec<StoredRecord>> {
        self.inner.records_page(prefix, after, max)
    }
    fn insert_if_absent(&self, key: &[u8], value: Vec<u8>) -> StoreFuture<'_, Vec<u8>> {
        self.inner.insert_if_absent(key, value)
    }
    fn record_changes(&self) -> Option<broadcast::Receiver<RecordChanges>> {
        self.inner.record_changes()
    }
    fn changes_announced_through(&self) -> u64 {
        self.inner.changes_announced_through()
    }
    fn sync(&self, within: Duration) -> StoreFuture<'_, u64> {
        self.inner.sync(within)
    }
}

/// Inside `impl EventLog for W`, where `W` wraps another log in a field `inner`: every method
/// but the appends (which a test's wrapper exists to change), passed straight to `inner`.
#[macro_export]
macro_rules! forward_event_log {
    () => {
        fn read(
            &self,
            after: u64,
            filter: ::bayou_log::ChannelFilter,
            max: usize,
            scan_limit: usize,
        ) -> ::bayou_log::StoreFuture<'_, ::bayou_log::ReadBatch> {
            self.inner.read(after, filter, max, scan_limit)
        }
        fn head(&self) -> u64 {
            self.inner.head()
        }
        fn watch_head(&self) -> ::tokio::sync::watch::Receiver<u64> {
            self.inner.watch_head()
        }
        fn retention_floor(&self, channel: &str) -> u64 {
            self.inner.retention_floor(channel)
        }
        fn expire_through(&self, replay_id: u64) -> Result<u64, ::bayou_log::LogError> {
            self.inner.expire_through(replay_id)
        }
        fn stats(&self) -> ::bayou_log::LogStats {
            self.inner.stats()
        }
        fn retention_rules(&self) -> Vec<::bayou_log::RetentionRule> {
            self.inner.retention_rules()
        }
        fn catch_up(
            &self,
            replay_id: u64,
            within: ::std::time::Duration,
        ) -> ::bayou_log::StoreFuture<'_, ()> {
            self.inner.catch_up(replay_id, within)
        }
        fn node_report(&self) -> Option<::bayou_log::NodeReport> {
            self.inner.node_report()
        }
    };
}
