//! Moving Bayeux messages: a [`Link`] sends batches and yields everything that comes back, in
//! the order it came, on one channel.
//!
//! The event loop matches replies to requests by `id` itself, so both transports look the
//! same to it: long-polling turns each batch into a POST whose reply array is yielded as one
//! item; WebSocket writes a frame and yields every frame the server pushes. Keeping arrival
//! order matters: events that precede a failed connect reply in the same array were delivered
//! and must be handed on before the client re-subscribes, or the replay would repeat them.

pub(crate) mod cookies;
pub(crate) mod long_polling;
pub(crate) mod websocket;

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::TransportError;

pub(crate) use cookies::CookieJar;

/// Replies and frames that may wait for the event loop.
const INCOMING_BUFFER: usize = 64;

/// Which transport the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportKind {
    /// HTTP long-polling: what Salesforce offers.
    LongPolling,
    /// One WebSocket; events are pushed as soon as they are ready.
    WebSocket,
    /// WebSocket when the server accepts the upgrade, long-polling otherwise (Salesforce
    /// answers upgrades with HTTP 405). The default.
    #[default]
    Auto,
}

/// What a link yields.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Messages received, in order.
    Messages(Vec<Value>),
    /// A batch got no reply (long-polling: the request failed); `ids` are its message ids.
    Failed {
        ids: Vec<String>,
        error: TransportError,
    },
    /// The link is gone (WebSocket closed); every request in flight is lost.
    Closed(TransportError),
}

/// What a link needs to reach the server.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub url: String,
    pub authorization: Option<String>,
    pub cookies: CookieJar,
    pub http: reqwest::Client,
}

/// An open transport.
pub(crate) enum Link {
    LongPolling(long_polling::LongPolling),
    WebSocket(websocket::WebSocket),
}

impl Link {
    /// Opens a link of `kind`; `Auto` tries WebSocket first unless `websocket_refused`.
    pub async fn open(
        kind: TransportKind,
        endpoint: Endpoint,
        websocket_refused: &mut bool,
    ) -> Result<(Link, mpsc::Receiver<Incoming>), TransportError> {
        // Bounded: while the application is not taking events the loop stops reading, the
        // reader stops too, and TCP pushes back on the server instead of frames piling up here.
        let (tx, rx) = mpsc::channel(INCOMING_BUFFER);
        let link = match kind {
            TransportKind::LongPolling => {
                Link::LongPolling(long_polling::LongPolling::new(endpoint, tx))
            }
            TransportKind::WebSocket => {
                Link::WebSocket(websocket::WebSocket::connect(&endpoint, tx).await?)
            }
            TransportKind::Auto if *websocket_refused => {
                Link::LongPolling(long_polling::LongPolling::new(endpoint, tx))
            }
            TransportKind::Auto => match websocket::WebSocket::connect(&endpoint, tx.clone()).await
            {
                Ok(ws) => Link::WebSocket(ws),
                // The credentials, not WebSocket, were refused: log in again, then try again.
                Err(error @ TransportError::Unauthorized { .. }) => return Err(error),
                Err(error) => {
                    tracing::info!(%error, "WebSocket refused; using long-polling");
                    *websocket_refused = true;
                    Link::LongPolling(long_polling::LongPolling::new(endpoint, tx))
                }
            },
        };
        Ok((link, rx))
    }

    /// The `connectionType` to put in connects.
    pub fn connection_type(&self) -> &'static str {
        match self {
            Link::LongPolling(_) => bayou_protocol::connection_type::LONG_POLLING,
            Link::WebSocket(_) => bayou_protocol::connection_type::WEBSOCKET,
        }
    }

    /// Sends a batch; what comes back arrives on the link's channel. `timeout` bounds a
    /// long-polling request, and writing a WebSocket frame (the watchdog covers the reply).
    pub async fn send(
        &mut self,
        messages: Vec<Value>,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        match self {
            Link::LongPolling(lp) => {
                lp.send(messages, timeout);
                Ok(())
            }
            // A write that cannot complete (the peer stopped reading) is a dead link.
            Link::WebSocket(ws) => match tokio::time::timeout(timeout, ws.send(messages)).await {
                Ok(result) => result,
                Err(_) => Err(TransportError::WebSocket(format!(
                    "a frame could not be written within {timeout:?}"
                ))),
            },
        }
    }
}

/// The `id`s of a batch, as strings.
pub(crate) fn ids_of(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Decodes a reply body: a JSON array of messages (or one object, leniently).
pub(crate) fn decode(body: &[u8]) -> Result<Vec<Value>, TransportError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(messages)) => Ok(messages),
        Ok(object @ Value::Object(_)) => Ok(vec![object]),
        Ok(other) => Err(TransportError::Malformed(format!(
            "expected an array, got {}",
            truncate(&other.to_string())
        ))),
        Err(e) => Err(TransportError::Malformed(format!(
            "{e}: {}",
            truncate(&String::from_utf8_lossy(body))
        ))),
    }
}

fn truncate(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
