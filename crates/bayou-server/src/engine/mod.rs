//! The engine: sessions, subscriptions and delivery, independent of any transport.
//!
//! A transport decodes a request into messages and hands each to [`Engine::handle`], which
//! answers with a [`Step`]: a reply to send now, or a connect the transport may hold until
//! messages arrive ([`connect`]). Published messages go through one function,
//! [`Engine::publish`] ([`publish`]), which encodes them once and routes them through the
//! [`subscriptions`] index into each session's bounded queue ([`session`], [`queue`]: shared
//! event bytes, rewritten only when sent, counted once).
//!
//! Where things happen, by file: `handshake.rs` opens sessions, `connect.rs` decides whether a
//! `/meta/connect` is held, `subscribe.rs` edits the index, `publish.rs` fans out,
//! `disconnect.rs` ends sessions, `services.rs` dispatches `/service/**`, and `sweeper.rs`
//! expires sessions that stopped connecting.

mod allocations;
mod connect;
mod disconnect;
mod dispatcher;
mod faults;
mod handshake;
mod latency;
mod presence;
mod publish;
mod queue;
mod replay;
mod segment;
mod services;
mod session;
mod session_counts;
mod stats;
mod subscribe;
mod subscriptions;
mod sweeper;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::Duration;

use bayou_log::{EventLog, UsageCounters};
use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::channel::kind_of;
use bayou_protocol::{errors, Advice, ChannelKind, Message, MessageError, Reply, Subscription};

use crate::config::{EngineConfig, TransportKind};
use crate::metrics as m;
use crate::policy::{Credentials, Denial, Principal, SecurityPolicy};

pub use allocations::{AllocationUsage, DeliveryAllocation};
pub use connect::ConnectStep;
pub use latency::{DeliveryLatency, LatencySnapshot, BUCKET_BOUNDS_MS};
pub use publish::{PublishError, QueuedPublishes};
pub use segment::{segments, Segment};
pub use services::ServiceHandler;
use services::ServiceRegistry;
pub(crate) use session::HoldGuard;
pub use session::{CloseReason, Session, WaitOutcome};
pub use stats::EngineStats;
use subscriptions::SubscriptionIndex;

/// Whether a request may act for the session it names (see [`Engine::binding`]).
enum Binding {
    Holds,
    /// Live credentials of another user.
    OtherUser,
    Refused(Denial),
}

/// What the transport should do with one message.
#[derive(Debug)]
pub enum Step {
    /// Send this reply.
    Reply(Reply),
    /// A `/meta/connect`: reply now, or hold it first (see [`ConnectStep`]).
    Connect(ConnectStep),
}

/// What the engine knows about the request a message came in.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub credentials: &'a Credentials,
    pub transport: TransportKind,
    /// How many messages the request carried; a connect in a batch is never held.
    pub batch_len: usize,
    /// The API version of the request's path; a handshake gives it to its session.
    pub api_version: ApiVersion,
}

/// The Bayeux engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Engine {
    config: EngineConfig,
    /// Looked up on every long-polling request. foldhash, not SipHash: the keys are ids this
    /// server generated at random, so a client cannot choose colliding ones.
    sessions: RwLock<HashMap<String, Arc<Session>, foldhash::fast::RandomState>>,
    /// Sessions per user and per client address; changed only under `sessions`' write lock.
    session_counts: Mutex<session_counts::SessionCounts>,
    index: RwLock<SubscriptionIndex>,
    services: ServiceRegistry,
    policy: Arc<dyn SecurityPolicy>,
    log: Arc<dyn EventLog>,
    /// The last replay id the dispatcher has routed to live subscribers. Held while routing a
    /// batch, and while a replaying subscription switches to live.
    dispatched: Mutex<u64>,
    shutting_down: AtomicBool,
    shutdown_signal: tokio::sync::watch::Sender<bool>,
    /// Fault injection: incremented to make every WebSocket close.
    drop_signal: tokio::sync::watch::Sender<u64>,
    /// Fault injection: events are delivered this many milliseconds after they were stored.
    delay_signal: tokio::sync::watch::Sender<u64>,
    /// Fault injection: this many next handshakes are refused with the concurrent-client limit.
    refuse_handshakes: std::sync::atomic::AtomicU64,
    /// Counters and latency for the operator view.
    stats: EngineStats,
    /// Daily delivery allocations and their use.
    allocations: allocations::Allocations,
    /// Sessions ended because an allocation ran out, so that their next connect says why.
    limited: Mutex<std::collections::HashSet<String>>,
    /// The other nodes' sessions, in a cluster (set once, at start).
    remote_presence: std::sync::OnceLock<Arc<dyn bayou_log::RemotePresence>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with `config`, admitting clients through `policy`, storing events in
    /// `log`, counting daily deliveries in `counters`. Call [`Engine::spawn_dispatcher`] to
    /// start delivering.
    pub fn new(
        config: EngineConfig,
        policy: Arc<dyn SecurityPolicy>,
        log: Arc<dyn EventLog>,
        counters: Arc<dyn UsageCounters>,
    ) -> Arc<Self> {
        m::describe();
        let head = log.head();
        let allocations = allocations::Allocations::new(&config.delivery_allocations, counters);
        Arc::new(Self {
            config,
            sessions: RwLock::new(HashMap::default()),
            session_counts: Mutex::new(session_counts::SessionCounts::default()),
            index: RwLock::new(SubscriptionIndex::default()),
            services: ServiceRegistry::default(),
            policy,
            log,
            dispatched: Mutex::new(head),
            shutting_down: AtomicBool::new(false),
            shutdown_signal: tokio::sync::watch::Sender::new(false),
            drop_signal: tokio::sync::watch::Sender::new(0),
            refuse_handshakes: std::sync::atomic::AtomicU64::new(0),
            delay_signal: tokio::sync::watch::Sender::new(0),
            stats: EngineStats::default(),
            allocations,
            limited: Mutex::new(std::collections::HashSet::new()),
            remote_presence: std::sync::OnceLock::new(),
        })
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Registers a handler for `/service/**` messages matching `pattern`.
    pub fn register_service(
        &self,
        pattern: &str,
        handler: Arc<dyn ServiceHandler>,
    ) -> Result<(), bayou_protocol::ChannelError> {
        self.services.register(pattern, handler)
    }

    /// Counters and per-channel delivery latency since the engine started.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Every subscribed pattern with its number of subscriptions, by pattern.
    pub fn subscriptions_by_channel(&self) -> Vec<(String, usize)> {
        self.index.read().subscription_counts()
    }

    /// The event log.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Counts one delivery on `channel` made by another API (the Pub/Sub API) against the
    /// daily delivery allocation covering it; `false` when that allocation is used up.
    pub fn take_delivery_allocation(&self, channel: &str) -> bool {
        self.allocations.take_for(channel)
    }

    /// Handles one decoded (or undecodable) message.
    pub async fn handle(
        &self,
        message: Result<Message, MessageError>,
        ctx: RequestContext<'_>,
    ) -> Step {
        let message = match message {
            Ok(message) => message,
            Err(bad) => {
                let mut reply = Reply::failure(
                    bad.channel
                        .unwrap_or_else(|| "/meta/unsuccessful".to_owned()),
                    bad.id,
                    bad.error,
                )
                .with_advice(self.retry_advice());
                reply.client_id = bad.client_id;
                return Step::Reply(reply);
            }
        };
        match message.channel.as_str() {
            "/meta/handshake" => Step::Reply(self.handshake(message, ctx).await),
            "/meta/connect" => self.connect(message, ctx),
            "/meta/subscribe" => Step::Reply(self.subscribe(message, ctx.credentials).await),
            "/meta/unsubscribe" => Step::Reply(self.unsubscribe(message, ctx.credentials)),
            "/meta/disconnect" => Step::Reply(self.disconnect(message, ctx.credentials)),
            channel if kind_of(channel) == ChannelKind::Meta => {
                let error = errors::unknown_meta_channel(channel);
                Step::Reply(self.failure(&message, error))
            }
            _ => Step::Reply(self.client_publish(message, ctx.credentials).await),
        }
    }

    /// The advice sent with errors that leave the session usable: complete, with the hold
    /// `timeout` (CometD JS replaces its whole advice with whatever a reply carries).
    pub fn retry_advice(&self) -> Advice {
        Advice::retry(millis(self.config.timeout), millis(self.config.interval))
    }

    /// A failure reply to `message` with the retry advice.
    fn failure(&self, message: &Message, error: impl Into<String>) -> Reply {
        let mut reply = Reply::failure(message.channel.clone(), message.id.clone(), error)
            .with_advice(self.retry_advice());
        reply.client_id = message.client_id.clone();
        reply
    }

    /// Whether a connection bringing `credentials` may be opened at all (a WebSocket upgrade):
    /// the security policy's handshake check, without opening a session.
    pub async fn can_open(&self, credentials: &Credentials) -> Result<(), Denial> {
        self.can_handshake_settled(credentials).await.map(|_| ())
    }

    /// The policy's handshake check, made again once the policy has caught up when the refusal
    /// may only mean this node is behind (a token issued through another node of a cluster a
    /// moment ago).
    async fn can_handshake_settled(&self, credentials: &Credentials) -> Result<Principal, Denial> {
        match self.policy.can_handshake(credentials) {
            Err(denial) if denial.may_be_behind() => {
                self.policy.settle(&denial).await;
                self.policy.can_handshake(credentials)
            }
            checked => checked,
        }
    }

    /// Finds the live session a message names and checks the request may act for it, or
    /// returns the reply that says why not.
    fn session_for(
        &self,
        message: &Message,
        credentials: &Credentials,
    ) -> Result<Arc<Session>, Box<Reply>> {
        let Some(client_id) = message.client_id.as_deref() else {
            return Err(Box::new(
                Reply::failure(
                    message.channel.clone(),
                    message.id.clone(),
                    errors::CLIENT_NOT_HANDSHAKEN,
                )
                .with_advice(Advice::handshake()),
            ));
        };
        let unknown = || {
            Box::new(
                Reply::failure(
                    message.channel.clone(),
                    message.id.clone(),
                    errors::UNKNOWN_CLIENT,
                )
                .with_advice(Advice::handshake()),
            )
        };
        let session = match self.session(client_id) {
            Some(session) if session.closed().is_none() => session,
            _ => return Err(unknown()),
        };
        match self.binding(&session, credentials) {
            Binding::Holds => {
                session.touch();
                Ok(session)
            }
            // Another user's credentials: Salesforce's text; the session goes on.
            Binding::OtherUser => Err(Box::new(
                Reply::failure(
                    message.channel.clone(),
                    message.id.clone(),
                    errors::SESSION_USER_MISMATCH,
                )
                .with_advice(Advice::handshake()),
            )),
            Binding::Refused(denial) => {
                let mut reply =
                    Reply::failure(message.channel.clone(), message.id.clone(), denial.reason())
                        .with_advice(Advice::none());
                reply.client_id = Some(client_id.to_owned());
                Err(Box::new(reply))
            }
        }
    }

    /// Whether a request bringing `credentials` may act for `session`. The client id alone is
    /// not a credential: a session opened with a token answers only requests whose own
    /// credentials are live and belong to the same user (a WebSocket's are those of its
    /// upgrade). A session opened without one (`--anonymous`, plain Bayeux) has only its id.
    fn binding(&self, session: &Session, credentials: &Credentials) -> Binding {
        if session.principal().token.is_none() {
            return Binding::Holds;
        }
        if credentials.token().is_none() {
            return Binding::Refused(Denial::AuthenticationRequired);
        }
        match self.policy.can_handshake(credentials) {
            Ok(principal) if principal.user_id == session.principal().user_id => Binding::Holds,
            Ok(_) => Binding::OtherUser,
            Err(denial) => {
                if credentials.token() == session.principal().token.as_deref() {
                    // The session's own token was revoked or expired: the session ends, and a
                    // connect held for it is answered with the same error.
                    self.remove_session(session.id(), CloseReason::AuthInvalid);
                }
                Binding::Refused(denial)
            }
        }
    }

    /// The session with this client id, if it is live.
    pub fn session(&self, client_id: &str) -> Option<Arc<Session>> {
        self.sessions.read().get(client_id).cloned()
    }

    /// For every user with a session subscribed to `channel`: how many such sessions it has
    /// (who is "online" on a channel, for generic streaming's push replies).
    pub fn subscribed_sessions_by_user(&self, channel: &str) -> HashMap<String, usize> {
        let mut users: HashMap<String, usize> = HashMap::new();
        for session in self.index.read().sessions_matching(channel) {
            if let Some(user) = &session.principal().user_id {
                *users.entry(user.clone()).or_default() += 1;
            }
        }
        users
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    /// Ends a session: closes it (waking a held connect), and removes it and its
    /// subscriptions. Its next request gets `403::Unknown client`.
    pub fn remove_session(&self, client_id: &str, reason: CloseReason) -> bool {
        let session = {
            let mut sessions = self.sessions.write();
            let Some(session) = sessions.remove(client_id) else {
                return false;
            };
            self.session_counts.lock().remove(session.origin());
            session
        };
        session.close(reason);
        let subscriptions = session.subscriptions();
        {
            let mut index = self.index.write();
            for raw in &subscriptions {
                if let Ok(subscription) = Subscription::parse(raw) {
                    let filter = subscription.filter.as_deref();
                    index.unsubscribe(subscription.channel.as_str(), client_id, filter);
                }
            }
        }
        metrics::gauge!(m::SESSIONS).decrement(1.0);
        metrics::counter!(m::SESSIONS_CLOSED, "reason" => reason_label(reason)).increment(1);
        tracing::debug!(client_id, ?reason, "session ended");
        true
    }

    /// Starts the background task that removes sessions which stopped connecting. It ends when
    /// the engine is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        sweeper::spawn(Arc::downgrade(self))
    }

    /// Ends a session whose delivery allocation ran out: its held connect (or its next one)
    /// is answered with `403::Organization total events daily limit exceeded`, advice `none`.
    pub(crate) fn end_for_daily_limit(&self, client_id: &str) {
        let ended_otherwise = self
            .session(client_id)
            .is_none_or(|s| !matches!(s.closed(), None | Some(CloseReason::DailyLimit)));
        if ended_otherwise {
            return; // gone already, or closed for another reason: that reason stands
        }
        {
            let mut limited = self.limited.lock();
            if limited.len() >= 10_000 {
                limited.clear(); // clients that never came back; they get Unknown client
            }
            limited.insert(client_id.to_owned());
        }
        self.remove_session(client_id, CloseReason::DailyLimit);
    }

    /// Whether `client_id` was ended by the daily limit: closed for it and not yet removed, or
    /// removed by [`Engine::end_for_daily_limit`] (then once: the answer is given to one
    /// request).
    fn take_limited(&self, client_id: &str) -> bool {
        let closing = self
            .session(client_id)
            .is_some_and(|s| s.closed() == Some(CloseReason::DailyLimit));
        closing || self.limited.lock().remove(client_id)
    }

    /// Whether the delivery allocation covering `channel` is used up.
    pub fn allocation_exhausted(&self, channel: &str) -> bool {
        if self.config.delivery_allocations.is_empty() {
            return false;
        }
        self.allocations.exhausted_for(channel)
    }

    /// What each daily delivery allocation stands at.
    pub fn allocation_usage(&self) -> Vec<AllocationUsage> {
        self.allocations.usage()
    }

    /// Begins shutting down: every session is closed, which answers every held connect now.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown_signal.send_replace(true);
        let ids: Vec<String> = self.sessions.read().keys().cloned().collect();
        for id in ids {
            self.remove_session(&id, CloseReason::Shutdown);
        }
    }

    /// Changes once, when [`Engine::shutdown`] is called; for tasks that must stop with it.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown_signal.subscribe()
    }

    /// Whether [`Engine::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

fn reason_label(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Disconnected => "disconnected",
        CloseReason::Expired => "expired",
        CloseReason::QueueOverflow => "queue_overflow",
        CloseReason::AuthInvalid => "auth_invalid",
        CloseReason::Shutdown => "shutdown",
        CloseReason::DailyLimit => "daily_limit",
        CloseReason::ServerDisconnect => "server_disconnect",
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
