//! Long-polling: one HTTP POST carries a batch of messages, its response the replies.
//!
//! The body is a JSON array of messages or one object; the response is always a JSON array
//! with `Content-Type: application/json;charset=UTF-8`. Every Bayeux-level error is HTTP 200
//! with `successful:false` (the CometD Java client only reads bodies of 200 responses). Only a
//! body that cannot be read as messages at all gets an HTTP error: 413 past the size limit, 400
//! for malformed JSON or too many messages — still with a JSON array body explaining why.
//!
//! A lone `/meta/connect` may be held here until messages arrive ([`Engine::hold_connect`]);
//! queued messages go first in the array, the connect reply last.
//!
//! Two HTTP codes read these requests and both end in [`answer`]: the lean HTTP/1.1 path in
//! [`super::http1`] for the plain POSTs every Bayeux client sends, and hyper with axum
//! ([`handle`]) for everything else it hands over.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::{decode_batch, encode_array, errors, Advice, Reply};
use bytes::Bytes;

use super::{cookie, credentials, endpoint, AppState};
use crate::config::TransportKind;
use crate::engine::{segments, Engine, RequestContext, Segment, Step};
use crate::metrics as m;
use crate::policy::Credentials;

const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

/// `POST /cometd/{version}` through hyper and axum: requests the lean path
/// ([`super::http1`]) hands over because they are unusual (chunked, `Expect`, too large, …).
pub async fn handle(
    State(app): State<AppState>,
    rest: Option<axum::extract::Path<String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let engine = &app.engine;
    let limit = engine.config().max_request_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(engine.retry_advice());
    }
    let Ok(body) = to_bytes(body, limit).await else {
        return too_large(engine.retry_advice());
    };
    let rest = rest.map(|p| p.0).unwrap_or_default();
    let request = PollRequest {
        version: endpoint::api_version(&rest, engine.config().min_api_version),
        credentials: credentials(&headers, Some(peer)),
        has_cookie: cookie::present(&headers),
        body,
    };
    // The request's headers are slices of hyper's read buffer for this connection: kept while
    // a connect is held, they keep that buffer alive beside the one hyper reserves for the
    // next request — 8 KiB more for every held connect. Everything needed from them has been
    // copied out by now.
    drop(headers);
    let answer = answer(engine, request, &Counters::get()).await;
    json_response(
        answer.status,
        encode_array(&answer.messages),
        answer.set_cookie,
    )
}

/// What a long-polling POST carries, whichever HTTP code read it.
pub(crate) struct PollRequest {
    /// The API version from the path, or why there is none.
    pub version: Result<ApiVersion, String>,
    pub credentials: Credentials,
    /// Whether the request has the `BAYEUX_BROWSER` cookie already.
    pub has_cookie: bool,
    /// The whole body, within `max_request_bytes`.
    pub body: Bytes,
}

/// The response to a long-polling POST: a JSON array of `messages`, in order.
pub(crate) struct PollAnswer {
    pub status: StatusCode,
    pub messages: Vec<Bytes>,
    pub set_cookie: Option<HeaderValue>,
}

/// The message counters of this transport, looked up once and kept: a lookup by name and
/// label on every request shows in the profile.
#[derive(Clone)]
pub(crate) struct Counters {
    received: metrics::Counter,
    sent: metrics::Counter,
}

impl Counters {
    pub(crate) fn get() -> Self {
        Self {
            received: metrics::counter!(m::MESSAGES_RECEIVED, "transport" => "long-polling"),
            sent: metrics::counter!(m::MESSAGES_SENT, "transport" => "long-polling"),
        }
    }
}

/// Runs one long-polling request: every message of the batch in order, a lone connect held
/// until messages arrive. Queued messages go first in the answer, replies after.
pub(crate) async fn answer(
    engine: &Engine,
    request: PollRequest,
    counters: &Counters,
) -> PollAnswer {
    let PollRequest {
        version,
        credentials,
        has_cookie,
        body,
    } = request;
    let batch = match decode_batch(&body, engine.config().max_batch_messages) {
        Ok(batch) => batch,
        Err(e) => {
            metrics::counter!(m::REQUESTS_REFUSED, "reason" => "malformed").increment(1);
            let reply = whole_request_error(e.error_string(), engine.retry_advice());
            return PollAnswer {
                status: StatusCode::BAD_REQUEST,
                messages: vec![reply],
                set_cookie: None,
            };
        }
    };
    // The body's bytes are not needed past decoding: a held connect keeps none of them.
    drop(body);
    counters.received.increment(batch.len() as u64);
    let set_cookie = (!has_cookie).then(|| cookie::set_cookie(engine.config().secure_cookies));
    let api_version = match version {
        Ok(version) => version,
        Err(error) => {
            let messages = batch
                .into_iter()
                .map(|m| version_error(m, &error).encode())
                .collect();
            return PollAnswer {
                status: StatusCode::OK,
                messages,
                set_cookie,
            };
        }
    };

    let ctx = RequestContext {
        credentials: &credentials,
        transport: TransportKind::LongPolling,
        batch_len: batch.len(),
        api_version,
    };
    let mut messages: Vec<Bytes> = Vec::new();
    let mut replies: Vec<Bytes> = Vec::with_capacity(batch.len());
    for segment in segments(batch) {
        let message = match segment {
            Segment::One(message) => message,
            // Boxed, as is `handle` below: a held connect keeps this function's state for up to
            // `timeout`, so the large futures of publishing and message handling must not be
            // part of it.
            Segment::Publishes(run) => {
                let stored = Box::pin(engine.client_publishes(run, &credentials)).await;
                replies.extend(stored.iter().map(Reply::encode));
                continue;
            }
        };
        match Box::pin(engine.handle(message, ctx)).await {
            Step::Reply(reply) => replies.push(reply.encode()),
            Step::Connect(step) => {
                let (queued, reply) = engine.hold_connect(step).await;
                // Usually the only queued messages: taken as they are, not copied.
                if messages.is_empty() {
                    messages = queued;
                } else {
                    messages.extend(queued);
                }
                replies.push(reply.encode());
            }
        }
    }
    counters
        .sent
        .increment((messages.len() + replies.len()) as u64);
    if messages.is_empty() {
        messages = replies;
    } else {
        messages.append(&mut replies);
    }
    PollAnswer {
        status: StatusCode::OK,
        messages,
        set_cookie,
    }
}

/// A message on a path with a missing or unsupported API version.
fn version_error(
    message: Result<bayou_protocol::Message, bayou_protocol::MessageError>,
    error: &str,
) -> Reply {
    let (channel, id) = match message {
        Ok(m) => (m.channel, m.id),
        Err(e) => (
            e.channel.unwrap_or_else(|| "/meta/unsuccessful".into()),
            e.id,
        ),
    };
    Reply::failure(channel, id, error).with_advice(Advice::none())
}

/// The reply for a request (or WebSocket frame) refused as a whole: no channel or id can be
/// echoed.
pub(super) fn whole_request_error(error: String, advice: Advice) -> Bytes {
    let mut reply = Reply::failure("/meta/unsuccessful", None, error);
    reply.advice = Some(advice);
    reply.encode()
}

/// With `Connection: close`, as for every body refused unread: the connection cannot carry
/// another request, so no client may put it back in its pool.
fn too_large(advice: Advice) -> Response {
    metrics::counter!(m::REQUESTS_REFUSED, "reason" => "too_large").increment(1);
    let reply = whole_request_error(errors::MAXIMUM_REQUEST_SIZE.to_owned(), advice);
    let mut response = json_response(StatusCode::PAYLOAD_TOO_LARGE, encode_array([&reply]), None);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn json_response(status: StatusCode, body: Bytes, set_cookie: Option<HeaderValue>) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, JSON_UTF8)], body).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET` without a WebSocket upgrade.
pub fn get_not_supported() -> Response {
    let reply = whole_request_error(
        "400::Bayeux long-polling uses POST; GET is only for WebSocket upgrades".to_owned(),
        Advice::none(),
    );
    json_response(StatusCode::BAD_REQUEST, encode_array([&reply]), None)
}
