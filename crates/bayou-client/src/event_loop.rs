//! The event loop: one task that owns the session and decides every recovery.
//!
//! It runs sessions back to back. A session logs in if it has no token, opens a transport if
//! it has none, handshakes if it has no clientId, then (re)subscribes every channel with its
//! last replay id and connects until something ends it. What ends it decides what the next
//! session redoes ([`Next`]): only the handshake (`403::Unknown client`), the login too
//! (`401::Authentication invalid`), or only the transport (an error, a stall). Handling
//! replies lives in `replies.rs`; this file is the state and the waiting.
//!
//! One `select!` waits on everything at once — a stop request, the transport, the
//! application's commands, the watchdog and the next connect's due time — so nothing blocks
//! a stop, and a subscribe never waits behind a held connect.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::auth::Credentials;
use crate::backoff;
use crate::config::Config;
use crate::error::{ClientError, TransportError};
use crate::event::Event;
use crate::notice::Notice;
use crate::replay::ReplayFrom;
use crate::transport::{CookieJar, Endpoint, Incoming, Link};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// What the application asks of the loop.
pub(crate) enum Command {
    Subscribe {
        channel: String,
        from: ReplayFrom,
        reply: Option<Reply<()>>,
    },
    Unsubscribe {
        channel: String,
        reply: Option<Reply<()>>,
    },
    Publish {
        channel: String,
        data: Value,
        reply: Reply<Value>,
    },
}

/// What ended a session, and so what the next one must redo.
#[derive(Debug)]
pub(crate) enum Next {
    /// Asked to stop.
    Stop,
    /// Cannot go on.
    Fatal(ClientError),
    /// The session is gone: handshake again (keeping token and transport).
    Rehandshake,
    /// The token was refused: log in again, then handshake.
    Reauthenticate,
    /// The transport failed or stalled: open a new one after a backoff; the session may live.
    Reconnect,
    /// Try the same again after a backoff.
    Retry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubState {
    /// To be sent with the next handshake or connect.
    Wanted,
    /// Sent; waiting for the reply.
    Requested,
    Active,
}

pub(crate) struct Sub {
    pub from: ReplayFrom,
    /// Set after a replay gap: where the next subscribe starts.
    pub resume: Option<i64>,
    pub state: SubState,
    pub waiters: Vec<Reply<()>>,
}

pub(crate) enum Pending {
    Handshake,
    Connect,
    Subscribe {
        channel: String,
        replay_id: Option<i64>,
    },
    Unsubscribe {
        channel: String,
        reply: Option<Reply<()>>,
    },
    Publish {
        reply: Reply<Value>,
    },
}

pub(crate) struct EventLoop {
    pub config: Arc<Config>,
    commands: mpsc::UnboundedReceiver<Command>,
    pub events: mpsc::Sender<Event>,
    pub messages: broadcast::Sender<Value>,
    pub notices: broadcast::Sender<Notice>,
    pub stop: watch::Receiver<bool>,

    credentials: Option<Credentials>,
    renew: bool,
    pub link: Option<Link>,
    incoming: Option<mpsc::Receiver<Incoming>>,
    websocket_refused: bool,
    cookies: CookieJar,
    pub client_id: Option<String>,
    /// Whether the server's handshake reply said `ext.replay: true`.
    pub server_replay: bool,
    next_id: u64,
    pub advice_timeout: Duration,
    pub advice_interval: Duration,
    pub subs: BTreeMap<String, Sub>,
    pub pending: HashMap<String, Pending>,
    /// Publishes waiting for a session.
    pub outbox: Vec<(String, Value, Reply<Value>)>,
    /// The highest replay id handed to the application's buffer, per subscription: what a
    /// re-subscribe in this process starts after (the store lags by the buffered events).
    pub delivered: HashMap<String, i64>,
    pub failures: u32,
    /// Which of the configured servers is in use (counted round the list).
    server: usize,
    /// A session left behind by a lost connection, to disconnect once a new link is up.
    abandoned: Option<String>,
    /// When the in-flight handshake or connect counts as stalled.
    pub watchdog: Option<(Instant, Duration)>,
    pub next_connect: Option<Instant>,
    /// Whether the next connect is the first of a session.
    pub first_connect: bool,
}

impl EventLoop {
    pub fn new(
        config: Arc<Config>,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<Event>,
        messages: broadcast::Sender<Value>,
        notices: broadcast::Sender<Notice>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            config,
            commands,
            events,
            messages,
            notices,
            stop,
            credentials: None,
            renew: false,
            link: None,
            incoming: None,
            websocket_refused: false,
            cookies: CookieJar::default(),
            client_id: None,
            server_replay: false,
            next_id: 0,
            advice_timeout: Duration::from_millis(110_000),
            advice_interval: Duration::ZERO,
            subs: BTreeMap::new(),
            pending: HashMap::new(),
            outbox: Vec::new(),
            delivered: HashMap::new(),
            failures: 0,
            server: 0,
            abandoned: None,
            watchdog: None,
            next_connect: None,
            first_connect: true,
        }
    }

    pub fn notify(&self, notice: Notice) {
        tracing::debug!(?notice, "bayou-client");
        let _ = self.notices.send(notice);
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub async fn run(mut self) -> Result<(), ClientError> {
        // Commands sent before start (subscriptions) go with the first handshake.
        while let Ok(command) = self.commands.try_recv() {
            self.command(command).await;
        }
        let result = loop {
            let next = self.session().await;
            tracing::debug!(?next, "session ended");
            match next {
                Next::Stop => break Ok(()),
                Next::Fatal(error) => break Err(error),
                Next::Rehandshake => {
                    self.client_id = None;
                    self.failures += 1;
                }
                Next::Reauthenticate => {
                    self.client_id = None;
                    self.credentials = None;
                    self.renew = true;
                    // The Authorization header changes: a WebSocket carries the old one.
                    self.drop_link();
                    self.failures += 1;
                }
                Next::Reconnect => {
                    self.drop_link();
                    self.failures += 1;
                    if self.config.servers.len() > 1 {
                        // Another node of the cluster; the session does not move with it (a
                        // node knows only its own), so it is abandoned below and resumed there.
                        self.server += 1;
                        tracing::info!(
                            server = %self.config.servers[self.server % self.config.servers.len()],
                            "moving to another server"
                        );
                    }
                    // Events the server had already sent on the lost connection are gone with
                    // it, and the server will not send them again on the same session. With
                    // replay, a new session re-subscribed from the last event handed over gets
                    // them back (and repeats nothing, see `delivered`); without replay (faye),
                    // keeping the session is the better choice.
                    if self.server_replay {
                        self.abandoned = self.client_id.take();
                    }
                }
                Next::Retry => self.failures += 1,
            }
            self.reset_requests();
            // The first re-handshake after a lost session is immediate; repeated failures
            // back off.
            let delay = backoff::delay(
                self.config.backoff_initial,
                self.config.backoff_max,
                self.failures.saturating_sub(1),
            );
            if !delay.is_zero() && self.sleep_or_stop(delay).await {
                break Ok(());
            }
        };
        self.finish(&result).await;
        result
    }

    /// Sleeps; true when asked to stop meanwhile.
    async fn sleep_or_stop(&mut self, delay: Duration) -> bool {
        if self.stopping() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = self.stop.changed() => true,
        }
    }

    fn drop_link(&mut self) {
        self.link = None;
        self.incoming = None;
    }

    /// After a session ends: nothing in flight survives; unconfirmed subscriptions are sent
    /// again by the next session.
    fn reset_requests(&mut self) {
        for (_, pending) in self.pending.drain() {
            match pending {
                Pending::Publish { reply } => {
                    let _ = reply.send(Err(ClientError::Transport(TransportError::Closed)));
                }
                Pending::Unsubscribe {
                    reply: Some(reply), ..
                } => {
                    let _ = reply.send(Ok(()));
                }
                _ => {}
            }
        }
        for sub in self.subs.values_mut() {
            if sub.state == SubState::Requested || self.client_id.is_none() {
                sub.state = SubState::Wanted;
            }
        }
        self.watchdog = None;
        self.next_connect = None;
    }

    async fn finish(&mut self, result: &Result<(), ClientError>) {
        if let (Some(client_id), Some(link)) = (self.client_id.take(), self.link.as_mut()) {
            let id = self.next_id.to_string();
            let disconnect = json!([{"channel":"/meta/disconnect","clientId":client_id,"id":id}]);
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                link.send(
                    disconnect_with(&self.config, disconnect),
                    Duration::from_secs(2),
                ),
            )
            .await;
            // Give a long-polling disconnect a moment to leave before the link is dropped.
            if let Some(incoming) = self.incoming.as_mut() {
                let _ = tokio::time::timeout(Duration::from_secs(2), incoming.recv()).await;
            }
        }
        self.drop_link();
        let error = result.as_ref().err().map(ToString::to_string);
        for sub in self.subs.values_mut() {
            for waiter in sub.waiters.drain(..) {
                let _ = waiter.send(Err(ClientError::Stopped));
            }
        }
        for (_, _, reply) in self.outbox.drain(..) {
            let _ = reply.send(Err(ClientError::Stopped));
        }
        self.reset_requests();
        self.notify(Notice::Stopped { error });
    }

    /// One session: log in, open, handshake, subscribe, connect until something ends it.
    async fn session(&mut self) -> Next {
        if self.stopping() {
            return Next::Stop;
        }
        if let Some(next) = self.ensure_credentials().await {
            return next;
        }
        if let Some(next) = self.ensure_link().await {
            return next;
        }
        if let Some(old) = self.abandoned.take() {
            // Frees the server's slot now rather than at its expiry (concurrent client limits).
            let disconnect =
                json!([{"channel": "/meta/disconnect", "clientId": old, "id": self.new_id()}]);
            if let Some(link) = self.link.as_mut() {
                let _ = link
                    .send(
                        disconnect_with(&self.config, disconnect),
                        self.config.request_timeout,
                    )
                    .await;
            }
        }
        if self.client_id.is_none() {
            let handshake = json!({
                "channel": "/meta/handshake",
                "version": bayou_protocol::BAYEUX_VERSION,
                "minimumVersion": bayou_protocol::BAYEUX_VERSION,
                "supportedConnectionTypes": ["websocket", "long-polling"],
                "ext": {"replay": true},
            });
            if let Some(next) = self
                .send(
                    vec![(handshake, Pending::Handshake)],
                    self.config.request_timeout,
                )
                .await
            {
                return next;
            }
            self.watchdog = Some((
                Instant::now() + self.config.request_timeout,
                self.config.request_timeout,
            ));
        } else if let Some(next) = self.send_connect().await {
            return next;
        }
        self.wait().await
    }

    async fn ensure_credentials(&mut self) -> Option<Next> {
        let auth = self.config.auth.clone()?;
        if self.credentials.is_some() {
            return None;
        }
        let result = tokio::select! {
            result = auth.authenticate(&self.config.http, self.renew) => result,
            _ = self.stop.changed() => return Some(Next::Stop),
        };
        match result {
            Ok(credentials) => {
                self.credentials = Some(credentials);
                self.renew = false;
                None
            }
            Err(error) if error.is_transient() => {
                let retry_in = backoff::delay(
                    self.config.backoff_initial,
                    self.config.backoff_max,
                    self.failures + 1,
                );
                self.notify(Notice::TransportError {
                    error: error.to_string(),
                    retry_in,
                });
                Some(Next::Retry)
            }
            Err(error) => Some(Next::Fatal(ClientError::Auth(error))),
        }
    }

    async fn ensure_link(&mut self) -> Option<Next> {
        if self.link.is_some() {
            return None;
        }
        let url = match self.config.endpoint(
            self.credentials
                .as_ref()
                .and_then(|c| c.instance_url.as_deref()),
            self.server,
        ) {
            Ok(url) => url,
            Err(error) => return Some(Next::Fatal(error)),
        };
        let endpoint = Endpoint {
            url,
            authorization: self.credentials.as_ref().map(Credentials::authorization),
            cookies: self.cookies.clone(),
            http: self.config.http.clone(),
        };
        let opened = tokio::select! {
            opened = Link::open(self.config.transport, endpoint, &mut self.websocket_refused) => opened,
            _ = self.stop.changed() => return Some(Next::Stop),
        };
        match opened {
            Ok((link, incoming)) => {
                self.link = Some(link);
                self.incoming = Some(incoming);
                None
            }
            Err(TransportError::Unauthorized { reason, .. }) => {
                self.notify(Notice::Reauthenticating { reason });
                Some(Next::Reauthenticate)
            }
            Err(error) => Some(self.transport_failed(error)),
        }
    }

    pub fn transport_failed(&mut self, error: TransportError) -> Next {
        let retry_in = backoff::delay(
            self.config.backoff_initial,
            self.config.backoff_max,
            self.failures + 1,
        );
        tracing::warn!(%error, ?retry_in, "transport error");
        self.notify(Notice::TransportError {
            error: error.to_string(),
            retry_in,
        });
        Next::Reconnect
    }

    pub(crate) fn link_connection_type(&self) -> Option<&'static str> {
        self.link.as_ref().map(Link::connection_type)
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Sends messages (each with what its reply resolves), running the outgoing extensions.
    pub async fn send(&mut self, batch: Vec<(Value, Pending)>, timeout: Duration) -> Option<Next> {
        let mut messages = Vec::with_capacity(batch.len());
        for (mut message, pending) in batch {
            let id = self.new_id();
            message["id"] = Value::String(id.clone());
            if let Some(client_id) = &self.client_id {
                if message["channel"] != "/meta/handshake" {
                    message["clientId"] = Value::String(client_id.clone());
                }
            }
            for extension in &self.config.extensions {
                extension.outgoing(&mut message);
            }
            self.pending.insert(id, pending);
            messages.push(message);
        }
        tracing::trace!(?messages, "sending");
        let link = self.link.as_mut()?;
        match link.send(messages, timeout).await {
            Ok(()) => None,
            Err(TransportError::Unauthorized { reason, .. }) => {
                self.notify(Notice::Reauthenticating { reason });
                Some(Next::Reauthenticate)
            }
            Err(error) => Some(self.transport_failed(error)),
        }
    }

    /// The connect (with every subscription not yet confirmed, and queued publishes).
    pub async fn send_connect(&mut self) -> Option<Next> {
        let connection_type = self.link.as_ref()?.connection_type();
        let mut connect = json!({"channel": "/meta/connect", "connectionType": connection_type});
        if self.first_connect {
            connect["advice"] = json!({"timeout": 0});
        }
        let mut batch = vec![(connect, Pending::Connect)];
        batch.extend(self.subscribe_batch().await);
        for (channel, data, reply) in std::mem::take(&mut self.outbox) {
            batch.push((
                json!({"channel": channel, "data": data}),
                Pending::Publish { reply },
            ));
        }
        let wait = if self.first_connect {
            self.config.request_timeout
        } else {
            self.advice_timeout + self.config.stall_grace
        };
        self.next_connect = None;
        self.watchdog = Some((Instant::now() + wait, wait));
        self.send(batch, wait + Duration::from_secs(1)).await
    }

    /// Waits on everything until the session ends.
    async fn wait(&mut self) -> Next {
        loop {
            let Some(incoming) = self.incoming.as_mut() else {
                return Next::Reconnect;
            };
            let watchdog = self.watchdog;
            let next_connect = self.next_connect;
            tokio::select! {
                biased;
                _ = self.stop.changed() => return Next::Stop,
                item = incoming.recv() => {
                    let Some(item) = item else { return Next::Reconnect };
                    if let Some(next) = self.incoming(item).await {
                        return next;
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { return Next::Stop };
                    if let Some(next) = self.command(command).await {
                        return next;
                    }
                }
                _ = sleep_until(watchdog.map(|w| w.0)), if watchdog.is_some() => {
                    let waited = watchdog.map(|w| w.1).unwrap_or_default();
                    tracing::warn!(?waited, "no reply: stalled connection");
                    self.notify(Notice::Stalled { waited });
                    return Next::Reconnect;
                }
                _ = sleep_until(next_connect), if next_connect.is_some() => {
                    if let Some(next) = self.send_connect().await {
                        return next;
                    }
                }
            }
        }
    }

    async fn incoming(&mut self, item: Incoming) -> Option<Next> {
        match item {
            Incoming::Messages(decoded) => {
                for skipped in decoded.undecodable {
                    tracing::warn!(channel = ?skipped.channel, error = %skipped.error, "undecodable message skipped");
                    self.notify(Notice::Undecodable {
                        channel: skipped.channel,
                        error: skipped.error,
                    });
                }
                for message in decoded.messages {
                    if let Some(next) = self.message(message).await {
                        return Some(next);
                    }
                }
                None
            }
            Incoming::Failed { ids, error } => {
                let lost_session_request = ids.iter().any(|id| {
                    matches!(
                        self.pending.get(id),
                        Some(Pending::Connect | Pending::Handshake)
                    )
                });
                for id in &ids {
                    match self.pending.remove(id) {
                        Some(Pending::Subscribe { channel, .. }) => {
                            // Sent again with the next connect.
                            if let Some(sub) = self.subs.get_mut(&channel) {
                                sub.state = SubState::Wanted;
                            }
                        }
                        Some(Pending::Publish { reply }) => {
                            let _ = reply.send(Err(ClientError::Transport(error.clone())));
                        }
                        Some(Pending::Unsubscribe {
                            reply: Some(reply), ..
                        }) => {
                            let _ = reply.send(Err(ClientError::Transport(error.clone())));
                        }
                        Some(other) => {
                            self.pending.insert(id.clone(), other);
                        }
                        None => {}
                    }
                }
                if lost_session_request {
                    Some(self.transport_failed(error))
                } else {
                    None
                }
            }
            Incoming::Closed(error) => Some(self.transport_failed(error)),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A disconnect batch after the outgoing extensions.
fn disconnect_with(config: &Config, batch: Value) -> Vec<Value> {
    let mut messages = match batch {
        Value::Array(messages) => messages,
        other => vec![other],
    };
    for message in &mut messages {
        for extension in &config.extensions {
            extension.outgoing(message);
        }
    }
    messages
}
