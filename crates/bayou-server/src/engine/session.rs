//! One client's session: its bounded queue, its subscriptions, and the wake-ups that release a
//! held `/meta/connect`.
//!
//! The queue ([`MessageQueue`]) holds shared `Bytes` (an event encoded once for all
//! subscribers) and is bounded twice: in messages (CometD's `maxQueue`) and in the bytes it
//! keeps alive (`max_queue_bytes`), so a client that stops reading costs at most that much,
//! whatever the size of the events. The lock is a
//! plain mutex held for a few instructions and never across an `await`; waiting is done on a
//! [`Notify`] with the register-then-check pattern, so a message enqueued between the check and
//! the wait is never missed.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use bayou_protocol::api_version::ApiVersion;

use super::queue::{MessageQueue, Outgoing};
use super::replay::CatchUp;
use crate::policy::Principal;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent `/meta/disconnect`.
    Disconnected,
    /// No connect within `maxInterval`.
    Expired,
    /// Its queue passed `maxQueue` or `max_queue_bytes`, or a write to its socket did not
    /// finish within `write_timeout`: the client reads more slowly than messages arrive.
    QueueOverflow,
    /// Its credentials stopped being valid.
    AuthInvalid,
    /// The server is shutting down.
    Shutdown,
    /// A daily delivery allocation ran out.
    DailyLimit,
    /// The server ended it (Salesforce's Hyperforce autoscaling, documented from API 64.0).
    ServerDisconnect,
}

/// How a wait for messages ended.
#[derive(Debug)]
pub enum WaitOutcome {
    /// Messages were queued; here they are (at most the requested number).
    Messages(Vec<Bytes>),
    /// The hold time ran out with nothing queued.
    Timeout,
    /// A newer connect took this one's place.
    Superseded,
    /// The session ended.
    Closed(CloseReason),
}

/// What [`Session::enqueue_unwoken`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Queued into an empty queue: the session must be woken.
    First,
    /// Queued behind other messages (or dropped: the session is closed).
    Behind,
    /// Not queued: the queue is full.
    Full,
}

/// A session's mutable state.
#[derive(Debug)]
struct State {
    queue: MessageQueue,
    /// Subscriptions as the client wrote them.
    subscriptions: HashSet<String>,
    /// Subscriptions still reading their backlog from the log.
    catch_ups: Vec<Arc<CatchUp>>,
    /// Whether the first connect has been answered (it is answered at once, with advice).
    connected: bool,
    last_active: Instant,
    /// Incremented by every connect; a held connect whose number is old has been replaced.
    connect_generation: u64,
    /// Connects currently held for this session (a held connect keeps the session alive).
    holding: u32,
    closed: Option<CloseReason>,
}

/// A client's session.
#[derive(Debug)]
pub struct Session {
    id: String,
    principal: Principal,
    /// The client's address at the handshake.
    address: Option<IpAddr>,
    /// The API version the client handshook with: it decides replay and the events' shape.
    api_version: ApiVersion,
    /// The most bytes the queue may hold.
    max_queue_bytes: usize,
    state: Mutex<State>,
    wake: Notify,
    /// Held while the session's backlog is read from the log (see `replay.rs`).
    filling: tokio::sync::Mutex<()>,
}

impl Session {
    pub(crate) fn new(
        id: String,
        principal: Principal,
        address: Option<IpAddr>,
        max_queue_bytes: usize,
        api_version: ApiVersion,
    ) -> Self {
        Self {
            id,
            principal,
            address,
            api_version,
            max_queue_bytes,
            state: Mutex::new(State {
                queue: MessageQueue::default(),
                subscriptions: HashSet::new(),
                catch_ups: Vec::new(),
                connected: false,
                last_active: Instant::now(),
                connect_generation: 0,
                holding: 0,
                closed: None,
            }),
            wake: Notify::new(),
            filling: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits until no other backlog read runs for this session; holds it off until dropped.
    pub(crate) async fn fill_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.filling.lock().await
    }

    /// The opaque client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who opened the session.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn api_version(&self) -> ApiVersion {
        self.api_version
    }

    /// Whom and where from the session counts against (see `session_counts.rs`).
    pub(super) fn origin(&self) -> super::session_counts::Origin<'_> {
        super::session_counts::Origin {
            user: self.principal.user_id.as_deref(),
            address: self.address,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Why the session ended, if it has.
    pub fn closed(&self) -> Option<CloseReason> {
        self.state().closed
    }

    /// Marks activity (any message from the client).
    pub(crate) fn touch(&self) {
        self.state().last_active = Instant::now();
    }

    /// Registers a connect. Returns whether it is the first one (to be answered at once with
    /// advice) and its generation number; any connect held before it is released. (Activity
    /// was stamped a moment before, when the connect found its session.)
    pub(crate) fn begin_connect(&self) -> (bool, u64) {
        let (first, generation) = {
            let mut state = self.state();
            state.connect_generation += 1;
            let first = !state.connected;
            state.connected = true;
            (first, state.connect_generation)
        };
        self.wake.notify_waiters();
        (first, generation)
    }

    /// Answers a held connect now, with no messages (fault injection: "drop connections"):
    /// bumping the generation makes it look replaced.
    pub(crate) fn release_held(&self) {
        self.state().connect_generation += 1;
        self.wake.notify_waiters();
    }

    /// Adds a message to the queue and wakes whoever waits on the session. Returns `false` if
    /// the queue is full; the caller then closes the session.
    pub(crate) fn enqueue(&self, message: Outgoing, max_queue: usize) -> bool {
        let queued = self.enqueue_unwoken(message, max_queue);
        if queued != Queued::Full {
            self.wake();
        }
        queued != Queued::Full
    }

    /// Adds a message to the queue without waking anyone: the dispatcher queues a whole batch
    /// of events first and then wakes each session once ([`Session::wake`]), so a session gets
    /// one wake-up, and its socket one write, per batch instead of one per event. The caller
    /// must wake the session after any call that returns [`Queued::First`]. A message that
    /// finds the queue non-empty gets no wake-up of its own: readers must therefore not wait
    /// while anything is queued (a reader that takes only part of the queue comes back for the
    /// rest without being woken; long-polling answers a connect at once when the queue is not
    /// empty, the WebSocket loop sends the next frame at once).
    pub(crate) fn enqueue_unwoken(&self, message: Outgoing, max_queue: usize) -> Queued {
        let mut state = self.state();
        if state.closed.is_some() {
            return Queued::Behind;
        }
        if state.queue.len() >= max_queue
            || state.queue.bytes() + state.queue.charge_for(&message) > self.max_queue_bytes
        {
            return Queued::Full;
        }
        let first = state.queue.is_empty();
        state.queue.push(message);
        if first {
            Queued::First
        } else {
            Queued::Behind
        }
    }

    /// Wakes whoever waits on the session (after [`Session::enqueue_unwoken`]).
    pub(crate) fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Adds a backlog event read from the log. The caller bounds how many it adds (by the room
    /// left for one reply), so this does not check `maxQueue`.
    pub(crate) fn enqueue_backlog(&self, message: Outgoing) {
        {
            let mut state = self.state();
            if state.closed.is_some() {
                return;
            }
            state.queue.push(message);
        }
        self.wake.notify_waiters();
    }

    /// Takes up to `max` queued messages.
    pub fn drain(&self, max: usize) -> Vec<Bytes> {
        self.state().queue.drain(max)
    }

    /// Bytes the queued messages keep alive (a buffer shared by several counted once).
    pub fn queued_bytes(&self) -> usize {
        self.state().queue.bytes()
    }

    /// Whether a connect is being held for this session right now.
    pub fn is_holding(&self) -> bool {
        self.state().holding > 0
    }

    /// Number of queued messages.
    pub fn queued(&self) -> usize {
        self.state().queue.len()
    }

    /// Records a subscription, replacing any earlier one with the same text; `catch_up` is set
    /// when it starts by replaying its backlog.
    pub(crate) fn add_subscription(&self, subscription: &str, catch_up: Option<Arc<CatchUp>>) {
        let mut state = self.state();
        state.subscriptions.insert(subscription.to_owned());
        state.catch_ups.retain(|c| c.raw != subscription);
        state.catch_ups.extend(catch_up);
    }

    pub(crate) fn remove_subscription(&self, subscription: &str) -> bool {
        let mut state = self.state();
        state.catch_ups.retain(|c| c.raw != subscription);
        state.subscriptions.remove(subscription)
    }

    /// The subscriptions still replaying their backlog.
    /// Whether any subscription is still reading its backlog from the log.
    pub(crate) fn is_catching_up(&self) -> bool {
        !self.state().catch_ups.is_empty()
    }

    pub(crate) fn catch_ups(&self) -> Vec<Arc<CatchUp>> {
        self.state().catch_ups.clone()
    }

    /// Forgets a catch-up that went live.
    pub(crate) fn finish_catch_up(&self, catch_up: &Arc<CatchUp>) {
        self.state().catch_ups.retain(|c| !Arc::ptr_eq(c, catch_up));
    }

    /// Whether the session holds `subscription` (as the client wrote it).
    pub fn has_subscription(&self, subscription: &str) -> bool {
        self.state().subscriptions.contains(subscription)
    }

    /// How many subscriptions the session holds.
    pub fn subscription_count(&self) -> usize {
        self.state().subscriptions.len()
    }

    /// The session's subscriptions, as the client wrote them.
    pub fn subscriptions(&self) -> Vec<String> {
        self.state().subscriptions.iter().cloned().collect()
    }

    /// Ends the session and wakes whoever waits on it. Returns `false` if it had already ended.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        let first = {
            let mut state = self.state();
            let first = state.closed.is_none();
            if first {
                state.closed = Some(reason);
                state.queue.clear(); // the memory goes now, not when the last Arc does
            }
            first
        };
        self.wake.notify_waiters();
        first
    }

    /// Whether the session has gone `max_interval` without a connect and none is held.
    pub(crate) fn is_expired(&self, now: Instant, max_interval: Duration) -> bool {
        let state = self.state();
        state.holding == 0 && now.duration_since(state.last_active) > max_interval
    }

    /// Marks a connect as held; the returned guard un-marks it when dropped (also when the
    /// HTTP request is abandoned mid-wait).
    pub(crate) fn hold(self: &Arc<Self>) -> HoldGuard {
        self.state().holding += 1;
        HoldGuard {
            session: Arc::clone(self),
        }
    }

    /// Waits until messages are queued, `generation` is replaced, the session closes, or
    /// `deadline` passes. Messages are not taken from a replaced connect: its response may be
    /// going to a client that has given up on it.
    pub async fn wait_for_messages(
        &self,
        generation: u64,
        deadline: tokio::time::Instant,
        max: usize,
    ) -> WaitOutcome {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                if let Some(reason) = state.closed {
                    return WaitOutcome::Closed(reason);
                }
                if state.connect_generation != generation {
                    return WaitOutcome::Superseded;
                }
                if !state.queue.is_empty() {
                    return WaitOutcome::Messages(state.queue.drain(max));
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return WaitOutcome::Timeout,
            }
        }
    }

    /// A future completing on the next change to this session (a message queued, a new
    /// connect, closing). Pin it and call `enable()` before checking the state, so that a change
    /// between the check and the await is not missed. The WebSocket transport, which pushes
    /// messages as soon as they are queued, waits on this.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The state of the current connect: its generation number, whether the session is closed.
    pub fn connect_state(&self) -> (u64, Option<CloseReason>) {
        let state = self.state();
        (state.connect_generation, state.closed)
    }

    /// Stamps the end of a connect (its reply was sent); `maxInterval` counts from here.
    pub(crate) fn end_connect(&self) {
        self.state().last_active = Instant::now();
    }
}

/// Keeps a session marked as holding a connect while alive.
#[derive(Debug)]
pub(crate) struct HoldGuard {
    session: Arc<Session>,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        let mut state = self.session.state();
        state.holding = state.holding.saturating_sub(1);
        state.last_active = Instant::now();
    }
}
