//! WebSocket: the same Bayeux messages, each frame a JSON array, on the same `/cometd/{v}`
//! path.
//!
//! The CometD clients send the handshake itself over the socket; faye handshakes over HTTP and
//! then upgrades, sending connects with the clientId it got. Either way a socket serves the
//! session of the last `/meta/connect` it carried. Unlike long-polling, queued messages are
//! pushed as soon as they are ready — coalesced into one frame when several are — while the
//! connect is held separately and answered at its timeout, like CometD's and faye's WebSocket
//! transports do. Frames ready together leave in one write (`outbox.rs`).
//!
//! A socket is bound at the upgrade to the credentials it brought — the `Authorization`
//! header, or, from a browser (which cannot set headers on an upgrade), the subprotocols
//! `bayou-auth` and `bayou-token.<token>` — and every message on it is checked against them.
//! An upgrade whose credentials the security policy refuses is answered with HTTP 401 before
//! upgrading, as Salesforce does: clients such as CometD's, which send their token only on
//! HTTP requests, then fall back to long-polling instead of being locked out by a handshake
//! denied over the socket.
//!
//! One task per socket runs a loop over four events: a frame from the client, a change in the
//! attached session (register-then-check, so no wake-up is lost), the held connect's
//! deadline, and the oldest publish frame in flight being stored (`in_flight.rs`: frames of
//! publishes are queued in the log and answered in order, while the socket reads on). Nothing
//! is awaited while a lock is held.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    close_code, CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade,
};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::{decode_batch, errors, Message, Reply};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::in_flight::InFlight;
use super::outbox::Outbox;
use super::{credentials, endpoint, long_polling, AppState};
use crate::config::TransportKind;
use crate::engine::HoldGuard;
use crate::engine::{
    segments, CloseReason, Engine, RequestContext, Segment, Session, Step, WaitOutcome,
};
use crate::metrics as m;
use crate::policy::Credentials;

/// `GET /cometd/{version}` with `Upgrade: websocket`.
pub async fn upgrade(
    State(app): State<AppState>,
    rest: Option<axum::extract::Path<String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => return long_polling::get_not_supported(),
    };
    if !app.engine.config().offers(TransportKind::WebSocket) {
        // What Salesforce answers to a WebSocket upgrade.
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let rest = rest.map(|p| p.0).unwrap_or_default();
    let api_version = match endpoint::api_version(&rest, app.engine.config().min_api_version) {
        Ok(version) => version,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    if !origin_allowed(&headers, &app.engine.config().allowed_origins) {
        // Cross-site WebSocket hijacking: a page elsewhere opening a socket with the browser's
        // ambient credentials. Browsers always send `Origin`; other clients need not.
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let mut credentials = credentials(&headers, Some(peer));
    if credentials.authorization.is_none() {
        credentials.authorization = subprotocol_token(&headers).map(|t| format!("Bearer {t}"));
    }
    if let Err(denial) = app.engine.can_open(&credentials).await {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            denial.reason(),
        )
            .into_response();
    }
    // Messages up to `hard_limit` are read so that one over `max_request_bytes` can be answered
    // with Salesforce's 413 and the socket goes on; past it the socket is closed (code 1009,
    // the same text as reason), which bounds what one frame can make the server hold.
    let hard_limit = hard_limit(app.engine.config().max_request_bytes);
    upgrade
        .protocols([AUTH_PROTOCOL])
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // Allocated for every socket and kept while it is open: small, since clients send
        // little (a large message is still read whole; the buffer grows for it).
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| async move {
            let _open = app.tracker.open();
            metrics::gauge!(m::WEBSOCKET_CONNECTIONS).increment(1.0);
            Connection::new(app.engine.clone(), credentials, api_version)
                .run(socket)
                .await;
            metrics::gauge!(m::WEBSOCKET_CONNECTIONS).decrement(1.0);
        })
}

/// The subprotocol a browser offers, beside `bayou-token.<token>`, to authenticate a socket;
/// the server selects it.
pub const AUTH_PROTOCOL: &str = "bayou-auth";

/// Whether a WebSocket upgrade's `Origin` (if any) is this server's own (same scheme-less
/// `host[:port]` as its `Host`) or one of `allowed` (`https://app.example.com`, or `*`).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/') == origin)
    {
        return true;
    }
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    !authority.is_empty() && host == Some(authority)
}

/// The token of a `bayou-token.<token>` subprotocol, when `bayou-auth` is offered too.
fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if !offered.contains(&AUTH_PROTOCOL) {
        return None;
    }
    offered
        .iter()
        .find_map(|p| p.strip_prefix("bayou-token."))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The largest message a socket reads at all: four times `max_request_bytes`, at least 1 MiB.
fn hard_limit(max_request_bytes: usize) -> usize {
    max_request_bytes.saturating_mul(4).max(1 << 20)
}

/// Whether a read failed because a message exceeded the hard limit.
fn is_too_long(error: &axum::Error) -> bool {
    // axum wraps tungstenite's capacity error without exposing its type; its text names it.
    let text = error.to_string();
    text.contains("Message too long") || text.contains("Space limit exceeded")
}

/// A connect held on a socket.
struct HeldConnect {
    reply: Reply,
    generation: u64,
    deadline: Instant,
    _guard: HoldGuard,
}

/// One socket's state.
struct Connection {
    engine: Arc<Engine>,
    credentials: Arc<Credentials>,
    /// From the upgrade's path: every message on the socket is for that version.
    api_version: ApiVersion,
    session: Option<Arc<Session>>,
    held: Option<HeldConnect>,
    /// Set after a successful `/meta/disconnect`: the socket closes once the reply is sent.
    closing: bool,
}

impl Connection {
    fn new(engine: Arc<Engine>, credentials: Credentials, api_version: ApiVersion) -> Self {
        Self {
            engine,
            credentials: Arc::new(credentials),
            api_version,
            session: None,
            held: None,
            closing: false,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (sink, mut stream) = socket.split();
        let mut out = Outbox::new(sink, self.engine.config().write_timeout);
        let mut shutdown = self.engine.shutdown_signal();
        let mut dropped = self.engine.drop_signal();
        let mut in_flight = InFlight::new(in_flight_bytes(self.engine.config().max_request_bytes));
        loop {
            let session = self.session.clone();
            let mut changed = std::pin::pin!(session.as_deref().map(Session::notified));
            if let Some(notified) = changed.as_mut().as_pin_mut() {
                notified.enable();
            }
            // Boxed, here and for `receive`: the loop's own state is what every idle socket
            // keeps, so the large futures of replay and message handling live on the heap
            // only while they run.
            if let Some(session) = session.as_ref().filter(|s| s.is_catching_up()) {
                let fill = Box::pin(self.engine.fill_from_log(session));
                if out.ready_or_flush(fill).await.is_err() {
                    break;
                }
            }
            let outgoing = self.ready_messages();
            if !outgoing.is_empty() && out.write(&outgoing).await.is_err() {
                break;
            }
            if self.engine.is_shutting_down() && self.held.is_none() {
                // Publishes already queued are answered before the socket closes.
                let _ = answer_all(&mut in_flight, &mut out).await;
                break;
            }
            // A full frame left messages queued: no wake-up comes for those (the dispatcher wakes
            // a session only when its queue was empty), so send them next without waiting.
            let more = session.as_ref().is_some_and(|s| s.queued() > 0);
            let deadline = self.held.as_ref().map(|h| h.deadline);
            let flush = out.needs_flush();
            // Biased: whatever is ready is handled before the flush, the last branch, so the
            // frames it produces leave together (`outbox.rs`). Nothing else starves: answers are
            // bounded by the frames read, the timers fire once, a client's frames are read
            // before a wake-up for deliveries (which every turn of the loop drains anyway).
            tokio::select! {
                biased;
                Some(replies) = in_flight.next(), if !in_flight.is_empty() => {
                    if out.write(&replies).await.is_err() {
                        break;
                    }
                }
                _ = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(held) = self.held.take() {
                        let replies = self.finish(held, WaitOutcome::Timeout);
                        if out.write(&replies).await.is_err() {
                            break;
                        }
                    }
                }
                _ = shutdown.changed() => {}
                _ = dropped.changed() => {
                    // Fault injection: answer the held connect, then drop the socket.
                    if let Some(held) = self.held.take() {
                        let replies = self.finish(held, WaitOutcome::Superseded);
                        if out.write(&replies).await.is_ok() {
                            let _ = out.flush().await;
                        }
                    }
                    break;
                }
                frame = stream.next(), if in_flight.has_room() => match frame {
                    Some(Ok(WsMessage::Text(text)))
                        if text.len() > self.engine.config().max_request_bytes =>
                    {
                        metrics::counter!(m::REQUESTS_REFUSED, "reason" => "too_large").increment(1);
                        let error = long_polling::whole_request_error(
                            errors::MAXIMUM_REQUEST_SIZE.to_owned(),
                            self.engine.retry_advice(),
                        );
                        if answer_all(&mut in_flight, &mut out).await.is_err()
                            || out.write(&[error]).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(WsMessage::Text(text))) => {
                        let other = match self.decode(text.as_bytes()) {
                            Decoded::Publishes(run) => {
                                let queue = Box::pin(
                                    self.engine.queue_publishes(run, &self.credentials),
                                );
                                match out.ready_or_flush(queue).await {
                                    Ok(queued) => in_flight.push(text.len(), queued),
                                    Err(_) => break,
                                }
                                continue;
                            }
                            Decoded::Other(other) => other,
                        };
                        // Anything else is handled after every publish before it is answered.
                        if answer_all(&mut in_flight, &mut out).await.is_err()
                            || out.flush().await.is_err()
                        {
                            break;
                        }
                        let replies = match other {
                            Ok((segments, batch_len)) => {
                                Box::pin(self.receive(segments, batch_len)).await
                            }
                            Err(error) => vec![error],
                        };
                        if !replies.is_empty() && out.write(&replies).await.is_err() {
                            break;
                        }
                        if self.closing {
                            break;
                        }
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        let error = long_polling::whole_request_error(
                            "400::Binary frames are not supported; send JSON text".into(),
                            self.engine.retry_advice(),
                        );
                        if answer_all(&mut in_flight, &mut out).await.is_err()
                            || out.write(&[error]).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Err(e)) if is_too_long(&e) => {
                        metrics::counter!(m::REQUESTS_REFUSED, "reason" => "too_large").increment(1);
                        let frame = CloseFrame {
                            code: close_code::SIZE,
                            reason: Utf8Bytes::from_static(errors::MAXIMUM_REQUEST_SIZE),
                        };
                        out.close(Some(frame)).await;
                        return;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {} // ping/pong: answered by the library
                },
                _ = async {
                    match changed.as_mut().as_pin_mut() {
                        _ if more => {}
                        Some(notified) => notified.await,
                        None => std::future::pending().await,
                    }
                } => {}
                flushed = out.flush(), if flush => {
                    if flushed.is_err() {
                        break;
                    }
                }
            }
        }
        if out.is_stalled() {
            // The client stopped reading: its session goes too (it resumes by replay), and the
            // socket is dropped without waiting on a close frame it would not read either.
            if let Some(session) = &self.session {
                self.engine
                    .remove_session(session.id(), CloseReason::QueueOverflow);
            }
            metrics::counter!(m::REQUESTS_REFUSED, "reason" => "write_timeout").increment(1);
            return;
        }
        out.close(None).await;
    }

    /// Messages to push now: queued events, and the reply of a held connect that was replaced
    /// or whose session ended.
    fn ready_messages(&mut self) -> Vec<Bytes> {
        let Some(session) = &self.session else {
            return Vec::new();
        };
        let mut out = session.drain(self.engine.config().max_messages_per_reply);
        self.finish_held_if_over(&mut out);
        out
    }

    /// Answers the held connect if a newer connect replaced it or its session ended.
    fn finish_held_if_over(&mut self, out: &mut Vec<Bytes>) {
        let (Some(session), Some(held)) = (&self.session, &self.held) else {
            return;
        };
        let (generation, closed) = session.connect_state();
        let outcome = match closed {
            Some(reason) => WaitOutcome::Closed(reason),
            None if generation != held.generation => WaitOutcome::Superseded,
            None => return,
        };
        if let Some(held) = self.held.take() {
            out.extend(self.finish(held, outcome));
        }
    }

    /// The messages that end a held connect: the reply, after whatever must precede it (the
    /// `/meta/disconnect` of a session the server ended).
    fn finish(&self, held: HeldConnect, outcome: WaitOutcome) -> Vec<Bytes> {
        if let Some(session) = &self.session {
            session.end_connect();
        }
        let (mut messages, reply) =
            self.engine
                .finish_connect(held.reply, outcome, self.api_version);
        messages.push(reply.encode());
        messages
    }

    /// Reads one text frame's messages.
    fn decode(&self, frame: &[u8]) -> Decoded {
        let batch = match decode_batch(frame, self.engine.config().max_batch_messages) {
            Ok(batch) => batch,
            Err(e) => {
                metrics::counter!(m::REQUESTS_REFUSED, "reason" => "malformed").increment(1);
                return Decoded::Other(Err(long_polling::whole_request_error(
                    e.error_string(),
                    self.engine.retry_advice(),
                )));
            }
        };
        metrics::counter!(m::MESSAGES_RECEIVED, "transport" => "websocket")
            .increment(batch.len() as u64);
        let batch_len = batch.len();
        let mut segments = segments(batch);
        if let [Segment::Publishes(_)] = segments.as_slice() {
            if let Some(Segment::Publishes(run)) = segments.pop() {
                return Decoded::Publishes(run);
            }
        }
        Decoded::Other(Ok((segments, batch_len)))
    }

    /// Handles one frame's messages (`batch_len` of them); returns what to send back at once.
    async fn receive(&mut self, segments: Vec<Segment>, batch_len: usize) -> Vec<Bytes> {
        let credentials = Arc::clone(&self.credentials);
        let ctx = RequestContext {
            credentials: &credentials,
            transport: TransportKind::WebSocket,
            batch_len,
            api_version: self.api_version,
        };
        let mut out = Vec::new();
        for segment in segments {
            let message = match segment {
                Segment::One(message) => message,
                Segment::Publishes(run) => {
                    let stored = self.engine.client_publishes(run, &credentials).await;
                    out.extend(stored.iter().map(Reply::encode));
                    continue;
                }
            };
            let step = self.engine.handle(message, ctx).await;
            // A held connect this message ended (a disconnect) is answered before its reply,
            // as CometD does: its clients only close the socket once no connect is pending.
            self.finish_held_if_over(&mut out);
            match step {
                Step::Reply(reply) => {
                    if reply.channel == "/meta/disconnect" && reply.successful {
                        self.closing = true;
                    }
                    out.push(reply.encode());
                }
                Step::Connect(step) => {
                    // A connect for another session, or a new one for this session, ends the
                    // connect held so far.
                    if let Some(held) = self.held.take() {
                        out.extend(self.finish(held, WaitOutcome::Superseded));
                    }
                    self.session = Some(Arc::clone(&step.session));
                    match step.hold {
                        None => {
                            out.extend(
                                step.session
                                    .drain(self.engine.config().max_messages_per_reply),
                            );
                            step.session.end_connect();
                            out.push(step.reply.encode());
                        }
                        Some(hold) => {
                            self.held = Some(HeldConnect {
                                _guard: step.session.hold(),
                                reply: step.reply,
                                generation: step.generation,
                                deadline: Instant::now() + hold,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// A text frame's messages.
enum Decoded {
    /// Publishes to broadcast channels only: queued, and answered once stored.
    Publishes(Vec<Message>),
    /// Anything else, handled in order once every frame before it is answered: the segments
    /// and the number of messages, or (not a JSON array of messages) the error to answer with.
    Other(Result<(Vec<Segment>, usize), Bytes>),
}

/// Bytes of publish frames a socket has in flight: eight of the largest request.
fn in_flight_bytes(max_request_bytes: usize) -> usize {
    max_request_bytes.saturating_mul(8)
}

/// Writes the replies of every publish frame in flight, oldest first, as each is stored
/// (flushing what is written while waiting for the next).
async fn answer_all<S>(in_flight: &mut InFlight, out: &mut Outbox<S>) -> Result<(), axum::Error>
where
    S: futures_util::Sink<WsMessage, Error = axum::Error> + Unpin,
{
    while !in_flight.is_empty() {
        if let Some(replies) = out.ready_or_flush(in_flight.next()).await? {
            out.write(&replies).await?;
        }
    }
    Ok(())
}
