//! Encoding what the server sends: replies to meta messages, delivered events, and the JSON
//! array that carries them.
//!
//! A delivered event is encoded once ([`encode_delivery`]) into [`Bytes`]; every subscriber's
//! queue holds a clone of the same buffer, and a response is those pieces joined with commas
//! inside `[` `]` ([`encode_array`]) — nothing is re-serialized per subscriber.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::advice::Advice;

/// A reply to one client message.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Box<RawValue>>,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<Advice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    #[serde(rename = "minimumVersion", skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<&'static str>,
    #[serde(
        rename = "supportedConnectionTypes",
        skip_serializing_if = "Option::is_none"
    )]
    pub supported_connection_types: Option<Vec<&'static str>>,
}

impl Reply {
    /// A successful reply on `channel`, echoing `id`.
    pub fn success(channel: impl Into<String>, id: Option<Box<RawValue>>) -> Self {
        Self {
            channel: channel.into(),
            id,
            client_id: None,
            successful: true,
            error: None,
            subscription: None,
            advice: None,
            ext: None,
            version: None,
            minimum_version: None,
            supported_connection_types: None,
        }
    }

    /// A failed reply carrying `error` (a `code::text` string).
    pub fn failure(
        channel: impl Into<String>,
        id: Option<Box<RawValue>>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            successful: false,
            error: Some(error.into()),
            ..Self::success(channel, id)
        }
    }

    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn with_advice(mut self, advice: Advice) -> Self {
        self.advice = Some(advice);
        self
    }

    pub fn with_subscription(mut self, subscription: Option<Box<RawValue>>) -> Self {
        self.subscription = subscription;
        self
    }

    pub fn with_ext(mut self, ext: Box<RawValue>) -> Self {
        self.ext = Some(ext);
        self
    }

    /// The reply as JSON bytes.
    pub fn encode(&self) -> Bytes {
        // Serializing a struct of strings, raw JSON and integers cannot fail.
        let mut out = BytesMut::with_capacity(160).writer();
        serde_json::to_writer(&mut out, self).unwrap_or_default();
        out.into_inner().freeze()
    }
}

/// Encodes an event as delivered to subscribers: `{"channel":…,"data":…}`.
pub fn encode_delivery(channel: &str, data: &RawValue) -> Bytes {
    #[derive(Serialize)]
    struct Delivery<'a> {
        channel: &'a str,
        data: &'a RawValue,
    }
    let mut out = BytesMut::with_capacity(channel.len() + data.get().len() + 32).writer();
    serde_json::to_writer(&mut out, &Delivery { channel, data }).unwrap_or_default();
    out.into_inner().freeze()
}

/// Encodes an event published over Bayeux, as stored in the log and delivered:
/// `{"channel":…,"data":…,"ext":{"replayId":N,"createdDate":"…"}}`. The published `data` is
/// kept byte for byte; the replay id travels in `ext`, where Bayeux extensions (a faye or
/// CometD replay extension) can read it without the application's data changing shape.
pub fn encode_bayeux_event(
    channel: &str,
    data: &RawValue,
    replay_id: u64,
    created_ms: i64,
) -> Bytes {
    #[derive(Serialize)]
    struct Ext<'a> {
        #[serde(rename = "replayId")]
        replay_id: u64,
        #[serde(rename = "createdDate")]
        created_date: &'a str,
    }
    #[derive(Serialize)]
    struct Event<'a> {
        channel: &'a str,
        data: &'a RawValue,
        ext: Ext<'a>,
    }
    let created_date = crate::time::iso8601_millis(created_ms);
    let event = Event {
        channel,
        data,
        ext: Ext {
            replay_id,
            created_date: &created_date,
        },
    };
    let mut out = BytesMut::with_capacity(channel.len() + data.get().len() + 96).writer();
    serde_json::to_writer(&mut out, &event).unwrap_or_default();
    out.into_inner().freeze()
}

/// Joins already-encoded messages into one JSON array.
pub fn encode_array<'a>(messages: impl IntoIterator<Item = &'a Bytes>) -> Bytes {
    let messages: Vec<&Bytes> = messages.into_iter().collect();
    let mut out = BytesMut::with_capacity(array_len(&messages));
    put_array(&mut out, &messages);
    out.freeze()
}

/// The length of `[m1,m2,…]`.
pub fn array_len(messages: &[impl AsRef<[u8]>]) -> usize {
    let commas = messages.len().saturating_sub(1);
    messages.iter().map(|m| m.as_ref().len()).sum::<usize>() + commas + 2
}

/// Writes `[m1,m2,…]` into `out` (for writers that put something else before the array).
pub fn put_array(out: &mut impl BufMut, messages: &[impl AsRef<[u8]>]) {
    out.put_u8(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(m.as_ref());
    }
    out.put_u8(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reply_shape() {
        let id = RawValue::from_string(r#""304""#.into()).unwrap();
        let reply = Reply::failure("/meta/connect", Some(id), "403::Unknown client")
            .with_advice(Advice::handshake());
        assert_eq!(
            std::str::from_utf8(&reply.encode()).unwrap(),
            r#"{"channel":"/meta/connect","id":"304","successful":false,"error":"403::Unknown client","advice":{"reconnect":"handshake","interval":0}}"#
        );
    }

    #[test]
    fn array_of_shared_pieces() {
        let data = RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap();
        let event = encode_delivery("/chat/a", &data);
        let reply = Reply::success("/meta/connect", None).encode();
        let body = encode_array([&event, &event, &reply]);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 3);
        assert_eq!(parsed[0]["data"]["text"], "hi");
        assert_eq!(&body[..], b"[{\"channel\":\"/chat/a\",\"data\":{\"text\":\"hi\"}},{\"channel\":\"/chat/a\",\"data\":{\"text\":\"hi\"}},{\"channel\":\"/meta/connect\",\"successful\":true}]");
        assert_eq!(&encode_array([])[..], b"[]");
    }

    #[test]
    fn bayeux_events_carry_the_replay_id_in_ext() {
        let data = RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap();
        let event = encode_bayeux_event("/chat/a", &data, 42, 1_459_269_608_208);
        assert_eq!(
            std::str::from_utf8(&event).unwrap(),
            r#"{"channel":"/chat/a","data":{"text":"hi"},"ext":{"replayId":42,"createdDate":"2016-03-29T16:40:08.208Z"}}"#
        );
    }
}
