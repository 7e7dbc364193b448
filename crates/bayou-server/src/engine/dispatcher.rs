//! Following the log's tail: every event reaches live subscribers from here, in replay id
//! order, whoever appended it.
//!
//! The dispatcher holds the dispatch lock while it fans out a batch and records the last replay
//! id it dispatched; a replaying subscription switches to live under the same lock (see
//! `replay.rs`), which is what makes the switch exact.
//!
//! A round queues every event that is there for every session it matches, then wakes each
//! session once: one wake-up, and one socket write, per session per round. What delivery costs
//! is therefore mostly those writes (on loopback the kernel's send path, which also runs the
//! receiver's side of TCP, is the largest part of the server's profile; see
//! docs/benchmarks.md):
//! a stream of rounds that wake many sessions spends the core on writes rather than on
//! messages. So when the rounds of the last `max_coalesce` have woken
//! [`COALESCE_FROM`] sessions or more, the dispatcher waits `max_coalesce` before the next
//! round, and whatever arrives meanwhile goes out in the same writes ([`Coalescer`]). Under
//! load, writes per second stay bounded by sessions / `max_coalesce`, and an event waits at most
//! `max_coalesce` more; a server that wakes fewer sessions than that never waits.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bayou_log::ChannelFilter;

use super::queue::Outgoing;
use super::session::Queued;
use super::{CloseReason, Engine, Session};
use crate::metrics as m;
use crate::policy::EventView;

const BATCH: usize = 1_024;

/// Sessions woken within `max_coalesce` from which the dispatcher waits (see the module docs).
/// Light loads stay below it and never wait: CometD's chat benchmark at its documented 1,000
/// msg/s wakes about 100 sessions per 10 ms, the 50-client scenario 50; the 1,000-subscriber
/// chat layout reaches it from about 5,000 msg/s.
const COALESCE_FROM: usize = 500;

impl Engine {
    /// Starts the task that delivers events from the log to live subscribers. It ends when the
    /// engine shuts down or is dropped.
    pub fn spawn_dispatcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let mut head = self.log.watch_head();
        let mut shutdown = self.shutdown_signal();
        let mut delay_changed = self.delay_signal.subscribe();
        let mut coalescer = Coalescer::new(self.config.max_coalesce);
        let engine: Weak<Engine> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                head.borrow_and_update();
                delay_changed.borrow_and_update();
                let (next_due, woken) = {
                    let Some(engine) = engine.upgrade() else {
                        return;
                    };
                    match engine.dispatch_available().await {
                        Ok(done) => done,
                        Err(e) => {
                            tracing::error!(error = %e, "reading the event log tail failed; retrying");
                            drop(engine);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                };
                let now = tokio::time::Instant::now();
                let pause = coalescer.after_round(now, woken);
                // Only a real pause goes through the timer: Tokio's timers tick in whole
                // milliseconds, so even a sleep until now waits for the next tick when the
                // clock has not reached it — up to a millisecond added to every event that
                // comes within one of the last round.
                let pause_until = (!pause.is_zero()).then(|| now + pause);
                tokio::select! {
                    changed = head.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // The pause gives way to a shutdown or a new delivery delay.
                        if let Some(pause_until) = pause_until {
                            tokio::select! {
                                _ = tokio::time::sleep_until(pause_until) => {}
                                _ = delay_changed.changed() => {}
                                _ = shutdown.changed() => return,
                            }
                        }
                    }
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
    /// long until that one is, and how many sessions were woken.
    pub(super) async fn dispatch_available(
        &self,
    ) -> Result<(Option<Duration>, usize), bayou_log::LogError> {
        let delay = i64::try_from(self.delivery_delay().as_millis()).unwrap_or(i64::MAX);
        let mut woken = 0;
        loop {
            let after = *self.dispatched.lock();
            let mut batch = self
                .log
                .read(after, ChannelFilter::All, BATCH, BATCH)
                .await?;
            let reached_head = batch.reached_head;
            if delay > 0 {
                let now = bayou_protocol::time::now_millis();
                let due = |e: &bayou_log::StoredEvent| e.created_ms.saturating_add(delay) <= now;
                if let Some(first_late) = batch.events.iter().position(|e| !due(e)) {
                    let wait = batch.events[first_late].created_ms.saturating_add(delay) - now;
                    batch.scanned_through = batch.events[first_late].replay_id - 1;
                    batch.events.truncate(first_late);
                    woken += self.dispatch(batch);
                    let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
                    return Ok((Some(wait), woken));
                }
            }
            woken += self.dispatch(batch);
            if reached_head {
                return Ok((None, woken));
            }
        }
    }

    /// Queues a batch of events for their subscribers; returns how many sessions it woke.
    fn dispatch(&self, batch: bayou_log::ReadBatch) -> usize {
        let max_queue = self.config.max_queue;
        let mut overflowed: Vec<Arc<Session>> = Vec::new();
        let mut limited: Vec<Arc<Session>> = Vec::new();
        // Sessions to wake once the whole batch is queued.
        let mut to_wake: Vec<Arc<Session>> = Vec::new();
        let mut enqueued = 0_usize;
        let now = bayou_protocol::time::now_millis();
        {
            let mut dispatched = self.dispatched.lock();
            let index = self.index.read();
            let allocations = &self.allocations;
            let counted = !allocations.is_empty();
            for event in &batch.events {
                let allocation = counted
                    .then(|| allocations.covering(&event.channel))
                    .flatten();
                // Sessions the event was queued for: the audience, the allocations and the
                // filters may skip some of those the index matched.
                let mut reached = 0_usize;
                let view = EventView::new(&event.bytes);
                index.for_each_subscriber(&event.channel, event.replay_id, |session, filter| {
                    if !event.is_for(session.principal().user_id.as_deref()) {
                        return;
                    }
                    let version = session.api_version();
                    if !version.has_delete_notifications() && is_removal(&event.channel, &view) {
                        return;
                    }
                    let delivery = match filter {
                        None => None,
                        Some(filter) => match filter.deliver(&view) {
                            Some(delivery) => Some(delivery),
                            None => return,
                        },
                    };
                    let message = Outgoing::delivering(&event.bytes, delivery, version);
                    // Counted only for what would be delivered, as Salesforce counts.
                    if allocation.is_some_and(|i| !allocations.take(i)) {
                        // Closed now, so no later event of this batch reaches it: the client
                        // resumes from before the event it missed.
                        session.close(CloseReason::DailyLimit);
                        limited.push(Arc::clone(session));
                        return;
                    }
                    match session.enqueue_unwoken(message, max_queue) {
                        Queued::First => {
                            to_wake.push(Arc::clone(session));
                            reached += 1;
                        }
                        Queued::Behind => reached += 1,
                        Queued::Full => overflowed.push(Arc::clone(session)),
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
        // A session can be listed twice if its reader emptied the queue during the round.
        to_wake.sort_unstable_by_key(Arc::as_ptr);
        to_wake.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let woken = to_wake.len();
        for session in to_wake {
            session.wake();
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
                max_queue_bytes = self.config.max_queue_bytes,
                "session queue full (messages or bytes); closing the session, the client must handshake again"
            );
            self.remove_session(session.id(), CloseReason::QueueOverflow);
        }
        self.stats.record_batch(batch.events.len(), enqueued);
        metrics::counter!(m::DISPATCHED).increment(batch.events.len() as u64);
        metrics::counter!(m::ENQUEUED).increment(enqueued as u64);
        woken
    }
}

/// Whether an event is a PushTopic `deleted` or `undeleted` notification, which sessions on API
/// versions before 29.0 do not receive.
fn is_removal(channel: &str, event: &EventView<'_>) -> bool {
    channel.starts_with("/topic/")
        && matches!(
            event
                .json()
                .and_then(|e| e.get("data")?.get("event")?.get("type")?.as_str()),
            Some("deleted" | "undeleted")
        )
}

/// Decides the wait after each round from the sessions woken lately (see the module docs).
struct Coalescer {
    max_coalesce: Duration,
    window_start: Option<tokio::time::Instant>,
    woken_in_window: usize,
}

impl Coalescer {
    fn new(max_coalesce: Duration) -> Self {
        Self {
            max_coalesce,
            window_start: None,
            woken_in_window: 0,
        }
    }

    /// How long to wait before the next round, after one at `now` that woke `woken` sessions.
    fn after_round(&mut self, now: tokio::time::Instant, woken: usize) -> Duration {
        if self.max_coalesce.is_zero() || woken == 0 {
            return Duration::ZERO;
        }
        match self.window_start {
            Some(start) if now.duration_since(start) < self.max_coalesce => {}
            _ => {
                self.window_start = Some(now);
                self.woken_in_window = 0;
            }
        }
        self.woken_in_window += woken;
        if self.woken_in_window < COALESCE_FROM {
            return Duration::ZERO;
        }
        // The next window starts with the next round.
        self.window_start = None;
        self.max_coalesce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_once_many_sessions_were_woken_within_the_window() {
        let max = Duration::from_millis(10);
        let t0 = tokio::time::Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut c = Coalescer::new(max);
        // Few sessions per window: never a wait.
        for i in 0..20 {
            assert_eq!(c.after_round(ms(i * 11), 400), Duration::ZERO);
        }
        // Rounds close together add up: the one that reaches the bound waits.
        let mut c = Coalescer::new(max);
        assert_eq!(c.after_round(ms(0), 200), Duration::ZERO);
        assert_eq!(c.after_round(ms(2), 200), Duration::ZERO);
        assert_eq!(c.after_round(ms(4), 200), max);
        // After a wait the count starts over, and one wide round waits at once.
        assert_eq!(c.after_round(ms(15), 200), Duration::ZERO);
        assert_eq!(c.after_round(ms(30), COALESCE_FROM), max);
        // Zero turns it off; a round that woke nobody never waits.
        let mut off = Coalescer::new(Duration::ZERO);
        assert_eq!(off.after_round(ms(0), 10_000), Duration::ZERO);
        assert_eq!(c.after_round(ms(50), 0), Duration::ZERO);
    }
}
