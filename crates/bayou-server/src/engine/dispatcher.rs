//! Following the log's tail: every event reaches live subscribers from here, in replay id
//! order, whoever appended it.
//!
//! The dispatcher holds the dispatch lock while it fans out a batch and records the last replay
//! id it dispatched; a replaying subscription switches to live under the same lock (see
//! `replay.rs`), which is what makes the switch exact.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{read, CloseReason, Engine, Session};
use crate::metrics as m;

const BATCH: usize = 1_024;

impl Engine {
    /// Starts the task that delivers events from the log to live subscribers. It ends when the
    /// engine shuts down or is dropped.
    pub fn spawn_dispatcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let mut head = self.log.watch_head();
        let mut shutdown = self.shutdown_signal();
        let mut delay_changed = self.delay_signal.subscribe();
        let engine: Weak<Engine> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                head.borrow_and_update();
                delay_changed.borrow_and_update();
                let next_due = {
                    let Some(engine) = engine.upgrade() else {
                        return;
                    };
                    match engine.dispatch_available() {
                        Ok(next_due) => next_due,
                        Err(e) => {
                            tracing::error!(error = %e, "reading the event log tail failed; retrying");
                            drop(engine);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                };
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return },
                    _ = delay_changed.changed() => {}
                    _ = async {
                        match next_due {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    /// Dispatches every event after the last dispatched one, up to the log's head — or, with a
    /// delivery delay (fault injection), up to the first event not yet due; then returns how
    /// long until that one is.
    pub(super) fn dispatch_available(&self) -> Result<Option<Duration>, bayou_log::LogError> {
        let delay = i64::try_from(self.delivery_delay().as_millis()).unwrap_or(i64::MAX);
        loop {
            let after = *self.dispatched.lock().unwrap_or_else(|e| e.into_inner());
            let mut batch = self.log.read(after, &|_| true, BATCH, BATCH)?;
            let reached_head = batch.reached_head;
            if delay > 0 {
                let now = bayou_protocol::time::now_millis();
                let due = |e: &bayou_log::StoredEvent| e.created_ms.saturating_add(delay) <= now;
                if let Some(first_late) = batch.events.iter().position(|e| !due(e)) {
                    let wait = batch.events[first_late].created_ms.saturating_add(delay) - now;
                    batch.scanned_through = batch.events[first_late].replay_id - 1;
                    batch.events.truncate(first_late);
                    self.dispatch(batch);
                    return Ok(Some(Duration::from_millis(
                        u64::try_from(wait).unwrap_or(0),
                    )));
                }
            }
            self.dispatch(batch);
            if reached_head {
                return Ok(None);
            }
        }
    }

    fn dispatch(&self, batch: bayou_log::ReadBatch) {
        let max_queue = self.config.max_queue;
        let mut overflowed: Vec<Arc<Session>> = Vec::new();
        let mut limited: Vec<Arc<Session>> = Vec::new();
        let mut enqueued = 0_usize;
        let now = bayou_protocol::time::now_millis();
        {
            let mut dispatched = self.dispatched.lock().unwrap_or_else(|e| e.into_inner());
            let index = read(&self.index);
            let mut allocations = self.allocations.lock().unwrap_or_else(|e| e.into_inner());
            let counted = !allocations.is_empty();
            for event in &batch.events {
                let allocation = counted
                    .then(|| allocations.covering(&event.channel))
                    .flatten();
                // Sessions the event was queued for: the audience, the allocations and the
                // filters may skip some of those the index matched.
                let mut reached = 0_usize;
                index.for_each_subscriber(&event.channel, event.replay_id, |session, filter| {
                    if !event.is_for(session.principal().user_id.as_deref()) {
                        return;
                    }
                    let bytes = match filter {
                        None => event.bytes.clone(),
                        Some(filter) => match filter.deliver(&event.bytes) {
                            Some(bytes) => bytes,
                            None => return,
                        },
                    };
                    // Counted only for what would be delivered, as Salesforce counts.
                    if allocation.is_some_and(|i| !allocations.take(i)) {
                        // Closed now, so no later event of this batch reaches it: the client
                        // resumes from before the event it missed.
                        session.close(CloseReason::DailyLimit);
                        limited.push(Arc::clone(session));
                        return;
                    }
                    if session.enqueue(bytes, max_queue) {
                        reached += 1;
                    } else {
                        overflowed.push(Arc::clone(session));
                    }
                });
                if reached > 0 {
                    let waited = u64::try_from(now.saturating_sub(event.created_ms)).unwrap_or(0);
                    self.stats.latency.record(&event.channel, waited);
                }
                enqueued += reached;
            }
            *dispatched = (*dispatched).max(batch.scanned_through);
        }
        for session in limited {
            tracing::warn!(
                client_id = session.id(),
                "daily delivery allocation used up; ending the session (events stay replayable)"
            );
            self.end_for_daily_limit(session.id());
        }
        for session in overflowed {
            tracing::warn!(
                client_id = session.id(),
                max_queue,
                "session queue full; closing the session, the client must handshake again"
            );
            self.remove_session(session.id(), CloseReason::QueueOverflow);
        }
        self.stats.record_batch(batch.events.len(), enqueued);
        metrics::counter!(m::DISPATCHED).increment(batch.events.len() as u64);
        metrics::counter!(m::ENQUEUED).increment(enqueued as u64);
    }
}
