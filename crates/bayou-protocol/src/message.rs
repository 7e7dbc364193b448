//! Decoding the messages a client sends.
//!
//! A request body is a JSON array of messages, or (aio_sf_streaming does this) one bare object.
//! Decoding is two-step so that one bad message does not sink its neighbours: the body is split
//! into raw elements first, then each element is read field by field. A message with a wrong
//! type in one field becomes a [`MessageError`] that still knows the message's `id` and
//! `channel`, so the reply can be matched by the client.
//!
//! `data`, `ext` and `id` stay raw JSON ([`RawValue`]): `data` is forwarded to subscribers
//! byte for byte and `id` is echoed verbatim (CometD sends strings, some Salesforce samples
//! numbers), so neither is ever re-parsed.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::errors;

/// One decoded client message. Only `channel` is mandatory at this level; what else a
/// message needs depends on its channel and is checked by the engine.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub channel: String,
    pub id: Option<Box<RawValue>>,
    pub client_id: Option<String>,
    pub subscription: Option<SubscriptionField>,
    pub data: Option<Box<RawValue>>,
    pub ext: Option<Box<RawValue>>,
    pub advice: Option<RequestAdvice>,
    pub connection_type: Option<String>,
    pub supported_connection_types: Option<Vec<String>>,
    pub version: Option<String>,
}

/// The `subscription` field: one channel or an array of them, plus the raw text to echo.
#[derive(Debug, Clone)]
pub struct SubscriptionField {
    pub channels: Vec<String>,
    pub raw: Box<RawValue>,
}

/// The part of a client's `advice` the server acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestAdvice {
    /// Milliseconds; `Some(0)` asks the server not to hold a connect.
    pub timeout: Option<u64>,
    pub interval: Option<u64>,
}

/// A message that could not be decoded, with whatever is known to address the reply.
#[derive(Debug, Clone)]
pub struct MessageError {
    pub id: Option<Box<RawValue>>,
    pub channel: Option<String>,
    pub client_id: Option<String>,
    /// The `code::text` error string.
    pub error: String,
}

/// Why a whole request body was refused (nothing in it is processed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("request body is empty")]
    Empty,
    #[error("request body must be a JSON array of messages or one message object")]
    NotMessages,
    #[error("too many messages in one request: {count} (the limit is {max})")]
    TooMany { count: usize, max: usize },
}

impl BatchError {
    /// The `code::text` form for a reply body.
    pub fn error_string(&self) -> String {
        match self {
            BatchError::MalformedJson(why) => errors::malformed_json(why),
            BatchError::TooMany { count, max } => errors::too_many_messages(*count, *max),
            other => errors::malformed_message(&other.to_string()),
        }
    }
}

/// Every message of a body, each decoded or refused on its own.
pub type Batch = Vec<Result<Message, MessageError>>;

/// Decodes a request body: a JSON array of messages or a single message object.
pub fn decode_batch(body: &[u8], max_messages: usize) -> Result<Batch, BatchError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let elements: Vec<&RawValue> = match first {
        None => return Err(BatchError::Empty),
        Some(b'[') => serde_json::from_slice(body).map_err(json_error)?,
        Some(b'{') => vec![serde_json::from_slice(body).map_err(json_error)?],
        Some(_) => {
            // Still tell malformed JSON apart from a well-formed scalar.
            serde_json::from_slice::<&RawValue>(body).map_err(json_error)?;
            return Err(BatchError::NotMessages);
        }
    };
    if elements.len() > max_messages {
        return Err(BatchError::TooMany {
            count: elements.len(),
            max: max_messages,
        });
    }
    Ok(elements.into_iter().map(decode_message).collect())
}

/// Decodes one message from its raw JSON.
pub fn decode_message(raw: &RawValue) -> Result<Message, MessageError> {
    let fields: RawFields = serde_json::from_str(raw.get()).map_err(|e| MessageError {
        id: None,
        channel: None,
        client_id: None,
        error: errors::malformed_message(&format!("a message must be a JSON object ({e})")),
    })?;
    let id = fields.id.map(RawValue::to_owned);
    let channel = match fields.channel.map(|c| string_field("channel", c)) {
        Some(Ok(channel)) => Some(channel),
        Some(Err(error)) => {
            return Err(MessageError {
                id,
                channel: None,
                client_id: None,
                error,
            })
        }
        None => None,
    };
    let client_id = fields
        .client_id
        .map(|c| string_field("clientId", c))
        .transpose();
    let fail = |error: String, client_id: Option<String>| MessageError {
        id: id.clone(),
        channel: channel.clone(),
        client_id,
        error,
    };
    let client_id = client_id.map_err(|e| fail(e, None))?;
    let Some(channel_name) = channel.clone() else {
        return Err(fail(errors::CHANNEL_NOT_SPECIFIED.to_owned(), client_id));
    };
    let read = || -> Result<Message, String> {
        Ok(Message {
            channel: channel_name,
            id: id.clone(),
            client_id: client_id.clone(),
            subscription: fields.subscription.map(subscription_field).transpose()?,
            data: fields.data.map(RawValue::to_owned),
            ext: fields.ext.map(object_field("ext")).transpose()?,
            advice: fields.advice.map(advice_field).transpose()?,
            connection_type: fields
                .connection_type
                .map(|c| string_field("connectionType", c))
                .transpose()?,
            supported_connection_types: fields
                .supported_connection_types
                .map(|c| string_list_field("supportedConnectionTypes", c))
                .transpose()?,
            version: fields
                .version
                .map(|c| string_field("version", c))
                .transpose()?,
        })
    };
    read().map_err(|e| fail(e, client_id.clone()))
}

#[derive(Deserialize)]
struct RawFields<'a> {
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow, rename = "clientId")]
    client_id: Option<&'a RawValue>,
    #[serde(borrow)]
    subscription: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    ext: Option<&'a RawValue>,
    #[serde(borrow)]
    advice: Option<&'a RawValue>,
    #[serde(borrow, rename = "connectionType")]
    connection_type: Option<&'a RawValue>,
    #[serde(borrow, rename = "supportedConnectionTypes")]
    supported_connection_types: Option<&'a RawValue>,
    #[serde(borrow)]
    version: Option<&'a RawValue>,
}

fn json_error(e: serde_json::Error) -> BatchError {
    BatchError::MalformedJson(e.to_string())
}

fn string_field(name: &str, raw: &RawValue) -> Result<String, String> {
    serde_json::from_str::<String>(raw.get())
        .map_err(|_| errors::malformed_message(&format!("`{name}` must be a string")))
}

fn string_list_field(name: &str, raw: &RawValue) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(raw.get())
        .map_err(|_| errors::malformed_message(&format!("`{name}` must be an array of strings")))
}

fn object_field(name: &'static str) -> impl Fn(&RawValue) -> Result<Box<RawValue>, String> {
    move |raw| {
        if raw.get().starts_with('{') {
            Ok(raw.to_owned())
        } else if raw.get() == "null" {
            // Some clients send `"ext": null`; treat it as absent-but-harmless.
            Ok(raw.to_owned())
        } else {
            Err(errors::malformed_message(&format!(
                "`{name}` must be an object"
            )))
        }
    }
}

fn subscription_field(raw: &RawValue) -> Result<SubscriptionField, String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let channels = match serde_json::from_str::<OneOrMany>(raw.get()) {
        Ok(OneOrMany::One(one)) => vec![one],
        Ok(OneOrMany::Many(many)) => many,
        Err(_) => {
            return Err(errors::malformed_message(
                "`subscription` must be a string or an array of strings",
            ))
        }
    };
    Ok(SubscriptionField {
        channels,
        raw: raw.to_owned(),
    })
}

fn advice_field(raw: &RawValue) -> Result<RequestAdvice, String> {
    #[derive(Deserialize)]
    struct Advice {
        timeout: Option<f64>,
        interval: Option<f64>,
    }
    let advice: Advice = serde_json::from_str(raw.get()).map_err(|_| {
        errors::malformed_message("`advice` must be an object with numeric timeout/interval")
    })?;
    let millis = |v: Option<f64>| {
        v.map(|v| {
            if v.is_finite() && v > 0.0 {
                v as u64
            } else {
                0
            }
        })
    };
    Ok(RequestAdvice {
        timeout: millis(advice.timeout),
        interval: millis(advice.interval),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Result<Message, MessageError> {
        decode_batch(body.as_bytes(), 100)
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
    }

    #[test]
    fn decodes_a_cometd_handshake() {
        let m = one(r#"[{"version":"1.0","minimumVersion":"1.0","channel":"/meta/handshake","supportedConnectionTypes":["websocket","long-polling"],"advice":{"timeout":60000,"interval":0},"id":"2"}]"#).unwrap();
        assert_eq!(m.channel, "/meta/handshake");
        assert_eq!(m.id.unwrap().get(), r#""2""#);
        assert_eq!(
            m.supported_connection_types.unwrap(),
            vec!["websocket", "long-polling"]
        );
        assert_eq!(m.advice.unwrap().timeout, Some(60000));
        assert_eq!(m.version.as_deref(), Some("1.0"));
    }

    #[test]
    fn accepts_a_bare_object_and_numeric_ids() {
        let m = one(r#"{"channel":"/meta/connect","clientId":"abc","id":7,"connectionType":"long-polling"}"#).unwrap();
        assert_eq!(m.id.unwrap().get(), "7");
        assert_eq!(m.client_id.as_deref(), Some("abc"));
    }

    #[test]
    fn subscription_one_or_many() {
        let m = one(r#"[{"channel":"/meta/subscribe","subscription":["/a","/b"]}]"#).unwrap();
        assert_eq!(m.subscription.unwrap().channels, vec!["/a", "/b"]);
        let m = one(r#"[{"channel":"/meta/subscribe","subscription":"/a"}]"#).unwrap();
        let s = m.subscription.unwrap();
        assert_eq!(s.channels, vec!["/a"]);
        assert_eq!(s.raw.get(), r#""/a""#);
    }

    #[test]
    fn data_is_kept_byte_for_byte() {
        let m = one(r#"[{"channel":"/chat","data":{"b": 1,  "a":[1,2]}}]"#).unwrap();
        assert_eq!(m.data.unwrap().get(), r#"{"b": 1,  "a":[1,2]}"#);
    }

    #[test]
    fn a_bad_field_keeps_id_and_channel() {
        let e = one(r#"[{"channel":"/meta/subscribe","id":"9","subscription":5}]"#).unwrap_err();
        assert_eq!(e.id.unwrap().get(), r#""9""#);
        assert_eq!(e.channel.as_deref(), Some("/meta/subscribe"));
        assert!(e.error.starts_with("400::Malformed message"), "{}", e.error);
    }

    #[test]
    fn missing_channel() {
        let e = one(r#"[{"id":"1"}]"#).unwrap_err();
        assert_eq!(e.error, errors::CHANNEL_NOT_SPECIFIED);
        let e = one(r#"[{"id":"1","channel":3}]"#).unwrap_err();
        assert!(e.error.contains("`channel` must be a string"));
    }

    #[test]
    fn one_bad_message_does_not_sink_the_batch() {
        let batch = decode_batch(br#"[1, {"channel":"/a","data":1}]"#, 10).unwrap();
        assert!(batch[0].is_err());
        assert!(batch[1].is_ok());
    }

    #[test]
    fn whole_body_errors() {
        assert!(matches!(
            decode_batch(b"[{", 10),
            Err(BatchError::MalformedJson(_))
        ));
        assert_eq!(decode_batch(b"  ", 10).unwrap_err(), BatchError::Empty);
        assert_eq!(
            decode_batch(b"42", 10).unwrap_err(),
            BatchError::NotMessages
        );
        assert!(matches!(
            decode_batch(b"nope", 10),
            Err(BatchError::MalformedJson(_))
        ));
        assert_eq!(
            decode_batch(b"[{},{},{}]", 2).unwrap_err(),
            BatchError::TooMany { count: 3, max: 2 }
        );
    }
}
