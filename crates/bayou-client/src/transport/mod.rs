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

use serde_json::value::RawValue;
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
    Messages(Decoded),
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
/// What one response or frame carried: the messages that decoded, in order, and those that
/// did not — each on its own, so one message no client library can decode (a lone surrogate,
/// nesting past serde_json's limit) costs only itself, not its neighbours.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub messages: Vec<Value>,
    pub undecodable: Vec<Undecodable>,
}

/// A message that is valid JSON syntax but could not be decoded.
#[derive(Debug, Clone)]
pub(crate) struct Undecodable {
    pub channel: Option<String>,
    pub error: String,
}

pub(crate) fn decode(body: &[u8]) -> Result<Decoded, TransportError> {
    let malformed = |e: &dyn std::fmt::Display| {
        TransportError::Malformed(format!("{e}: {}", truncate(&String::from_utf8_lossy(body))))
    };
    // Syntax first, without building values: RawValue keeps each message's text.
    let whole: &RawValue = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
    let text = whole.get().trim_start();
    let items: Vec<&RawValue> = if text.starts_with('[') {
        serde_json::from_str(whole.get()).map_err(|e| malformed(&e))?
    } else if text.starts_with('{') {
        vec![whole]
    } else {
        return Err(TransportError::Malformed(format!(
            "expected an array, got {}",
            truncate(text)
        )));
    };
    let mut decoded = Decoded::default();
    for item in items {
        match serde_json::from_str::<Value>(item.get()) {
            Ok(message) => decoded.messages.push(message),
            Err(e) => decoded.undecodable.push(Undecodable {
                channel: channel_of(item),
                error: e.to_string(),
            }),
        }
    }
    Ok(decoded)
}

/// The `channel` of a message that does not decode as a whole.
fn channel_of(message: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        channel: Option<String>,
        #[serde(borrow, rename = "data")]
        _data: Option<&'a RawValue>,
    }
    serde_json::from_str::<Head<'_>>(message.get())
        .ok()
        .and_then(|head| head.channel)
}

fn truncate(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_undecodable_message_costs_only_itself() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let body = format!(
            r#"[{{"channel":"/a","data":{{"n":1}}}},
                {{"channel":"/bad","data":{{"t":"\ud800"}}}},
                {{"channel":"/a","data":{{"n":2}}}},
                {{"channel":"/deep","data":{deep}}}]"#
        );
        let decoded = decode(body.as_bytes()).unwrap();
        let numbers: Vec<i64> = decoded
            .messages
            .iter()
            .map(|m| m["data"]["n"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, vec![1, 2]);
        let channels: Vec<Option<String>> = decoded
            .undecodable
            .iter()
            .map(|u| u.channel.clone())
            .collect();
        assert_eq!(channels, vec![Some("/bad".into()), Some("/deep".into())]);
        let errors: Vec<&str> = decoded
            .undecodable
            .iter()
            .map(|u| u.error.as_str())
            .collect();
        assert!(errors[0].contains("escape"), "{errors:?}");
        assert!(errors[1].contains("recursion"), "{errors:?}");
    }

    #[test]
    fn a_single_object_and_broken_bodies() {
        let decoded = decode(br#"{"channel":"/a","successful":true}"#).unwrap();
        assert_eq!(decoded.messages.len(), 1);
        assert!(matches!(
            decode(b"[{\"channel\":"),
            Err(TransportError::Malformed(_))
        ));
        assert!(matches!(decode(b"42"), Err(TransportError::Malformed(_))));
    }
}
