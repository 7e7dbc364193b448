//! Decoding the messages a client sends.
//!
//! A request body is a JSON array of messages, or (aio_sf_streaming does this) one bare object.
//! One pass over the body reads each element's known fields as raw JSON (anything else is
//! skipped), and an element that is not an object is noted, not fatal, so that one bad message
//! does not sink its neighbours; then each element's fields are checked one by one. A message with a wrong
//! type in one field becomes a [`MessageError`] that still knows the message's `id` and
//! `channel`, so the reply can be matched by the client.
//!
//! `data`, `ext` and `id` stay raw JSON ([`RawValue`]): `data` is forwarded to subscribers
//! byte for byte and `id` is echoed verbatim (CometD sends strings, some Salesforce samples
//! numbers), so neither is ever re-parsed.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
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
    let mut json = serde_json::Deserializer::from_slice(body);
    let elements = match first {
        None => return Err(BatchError::Empty),
        Some(b'[') => {
            let (elements, count) = Elements { max: max_messages }
                .deserialize(&mut json)
                .map_err(json_error)?;
            json.end().map_err(json_error)?;
            if count > max_messages {
                return Err(BatchError::TooMany {
                    count,
                    max: max_messages,
                });
            }
            elements
        }
        Some(b'{') => {
            let element = Element::deserialize(&mut json).map_err(json_error)?;
            json.end().map_err(json_error)?;
            vec![element]
        }
        Some(_) => {
            // Still tell malformed JSON apart from a well-formed scalar.
            serde_json::from_slice::<&RawValue>(body).map_err(json_error)?;
            return Err(BatchError::NotMessages);
        }
    };
    Ok(elements.into_iter().map(Element::decode).collect())
}

/// Decodes one message from its raw JSON.
pub fn decode_message(raw: &RawValue) -> Result<Message, MessageError> {
    match serde_json::from_str::<Element>(raw.get()) {
        Ok(element) => element.decode(),
        Err(e) => Element::Invalid(e.to_string()).decode(),
    }
}

/// One element of a batch, read in the same pass as the batch itself: its fields, still raw,
/// or why it is not a message (then only this element is refused).
enum Element<'a> {
    Fields(RawFields<'a>),
    Invalid(String),
}

impl Element<'_> {
    fn decode(self) -> Result<Message, MessageError> {
        let fields = match self {
            Element::Fields(fields) => fields,
            Element::Invalid(why) => {
                return Err(MessageError {
                    id: None,
                    channel: None,
                    client_id: None,
                    error: errors::malformed_message(&format!(
                        "a message must be a JSON object ({why})"
                    )),
                })
            }
        };
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
        let client_id = match fields.client_id.map(|c| string_field("clientId", c)) {
            Some(Ok(client_id)) => Some(client_id),
            Some(Err(error)) => {
                return Err(MessageError {
                    id,
                    channel,
                    client_id: None,
                    error,
                })
            }
            None => None,
        };
        let Some(channel) = channel else {
            return Err(MessageError {
                id,
                channel: None,
                client_id,
                error: errors::CHANNEL_NOT_SPECIFIED.to_owned(),
            });
        };
        let mut message = Message {
            channel,
            id,
            client_id,
            ..Message::default()
        };
        match fields.read_into(&mut message) {
            Ok(()) => Ok(message),
            Err(error) => Err(MessageError {
                id: message.id,
                channel: Some(message.channel),
                client_id: message.client_id,
                error,
            }),
        }
    }
}

#[derive(Default)]
struct RawFields<'a> {
    channel: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    client_id: Option<&'a RawValue>,
    subscription: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    ext: Option<&'a RawValue>,
    advice: Option<&'a RawValue>,
    connection_type: Option<&'a RawValue>,
    supported_connection_types: Option<&'a RawValue>,
    version: Option<&'a RawValue>,
}

impl RawFields<'_> {
    /// The fields past `channel`, `id` and `clientId`, each checked for its type.
    fn read_into(&self, message: &mut Message) -> Result<(), String> {
        message.subscription = self.subscription.map(subscription_field).transpose()?;
        message.data = self.data.map(RawValue::to_owned);
        message.ext = self.ext.map(object_field("ext")).transpose()?;
        message.advice = self.advice.map(advice_field).transpose()?;
        message.connection_type = self
            .connection_type
            .map(|c| string_field("connectionType", c))
            .transpose()?;
        message.supported_connection_types = self
            .supported_connection_types
            .map(|c| string_list_field("supportedConnectionTypes", c))
            .transpose()?;
        message.version = self
            .version
            .map(|c| string_field("version", c))
            .transpose()?;
        Ok(())
    }
}

/// The names of the fields the server reads; anything else is skipped.
#[derive(Deserialize, Clone, Copy)]
#[serde(field_identifier, rename_all = "camelCase")]
enum FieldName {
    Channel,
    Id,
    ClientId,
    Subscription,
    Data,
    Ext,
    Advice,
    ConnectionType,
    SupportedConnectionTypes,
    Version,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

/// Reads an element whatever it is: an object's fields, or what the element was instead.
struct ElementVisitor;

impl ElementVisitor {
    fn not_an_object<'de>(unexpected: Unexpected<'_>) -> Element<'de> {
        Element::Invalid(format!(
            "invalid type: {unexpected}, expected a message object"
        ))
    }
}

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RawFields::default();
        let mut seen = 0u16;
        let mut duplicate = false;
        while let Some(name) = map.next_key::<FieldName>()? {
            let slot = match name {
                FieldName::Channel => &mut fields.channel,
                FieldName::Id => &mut fields.id,
                FieldName::ClientId => &mut fields.client_id,
                FieldName::Subscription => &mut fields.subscription,
                FieldName::Data => &mut fields.data,
                FieldName::Ext => &mut fields.ext,
                FieldName::Advice => &mut fields.advice,
                FieldName::ConnectionType => &mut fields.connection_type,
                FieldName::SupportedConnectionTypes => &mut fields.supported_connection_types,
                FieldName::Version => &mut fields.version,
                FieldName::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // `null` reads as absent, as it always has: no id to echo, no channel given.
            *slot = map.next_value::<Option<&'de RawValue>>()?;
            let bit = 1 << name as u16;
            duplicate |= seen & bit != 0;
            seen |= bit;
        }
        Ok(if duplicate {
            Element::Invalid("a field appears twice".to_owned())
        } else {
            Element::Fields(fields)
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::not_an_object(Unexpected::Seq))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Str(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Self::not_an_object(Unexpected::Unit))
    }
}

/// A batch's array: up to `max` elements read, any further ones only counted (a body of many
/// tiny elements must not become as many decoded ones before it is refused).
struct Elements {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for Elements {
    type Value = (Vec<Element<'de>>, usize);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements {
    type Value = (Vec<Element<'de>>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(self.max));
        let mut count = 0;
        loop {
            let more = if count < self.max {
                seq.next_element::<Element>()?.map(|e| elements.push(e))
            } else {
                seq.next_element::<IgnoredAny>()?.map(drop)
            };
            if more.is_none() {
                return Ok((elements, count));
            }
            count += 1;
        }
    }
}

fn json_error(e: serde_json::Error) -> BatchError {
    BatchError::MalformedJson(e.to_string())
}

fn string_field(name: &str, raw: &RawValue) -> Result<String, String> {
    // The usual string, with no escape: its text between the quotes is its value, already
    // checked by the parser that cut it out (no second parse, which profiles showed on every
    // long-polling connect). A control character would have been refused there; it is looked
    // for anyway, so this path never accepts what the parse below would refuse.
    let plain = raw
        .get()
        .strip_prefix('"')
        .and_then(|text| text.strip_suffix('"'))
        .filter(|text| !text.bytes().any(|b| b == b'\\' || b == b'"' || b < 0x20));
    if let Some(text) = plain {
        return Ok(text.to_owned());
    }
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
    fn string_fields_with_and_without_escapes() {
        let plain = one(
            r#"[{"channel":"/meta/connect","clientId":"abc","connectionType":"long-polling"}]"#,
        )
        .unwrap();
        assert_eq!(plain.client_id.as_deref(), Some("abc"));
        assert_eq!(plain.connection_type.as_deref(), Some("long-polling"));
        let escaped = one(r#"[{"channel":"\/meta\/connect","clientId":"a\u0062\"c"}]"#).unwrap();
        assert_eq!(escaped.channel, "/meta/connect");
        assert_eq!(escaped.client_id.as_deref(), Some("ab\"c"));
        assert_eq!(one(r#"[{"channel":""}]"#).unwrap().channel, "");
        let wrong = one(r#"[{"channel":"/a","clientId":7}]"#).unwrap_err();
        assert!(
            wrong.error.contains("`clientId` must be a string"),
            "{}",
            wrong.error
        );
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
    fn null_fields_are_absent_and_twice_is_refused() {
        let e = one(r#"[{"channel":null,"id":null}]"#).unwrap_err();
        assert_eq!(e.error, errors::CHANNEL_NOT_SPECIFIED);
        assert!(e.id.is_none());
        let m = one(r#"[{"channel":"/a","ext":null,"other":{"deep":[1,{"x":2}]}}]"#).unwrap();
        assert!(m.ext.is_none());
        let e = one(r#"[{"channel":"/a","channel":"/b"}]"#).unwrap_err();
        assert!(e.error.contains("a field appears twice"), "{}", e.error);
    }

    #[test]
    fn too_many_elements_are_counted_not_decoded() {
        let body = format!("[{}{{}}]", "1,".repeat(9_999));
        assert_eq!(
            decode_batch(body.as_bytes(), 500).unwrap_err(),
            BatchError::TooMany {
                count: 10_000,
                max: 500
            }
        );
        assert!(matches!(
            decode_batch(b"[{\"channel\":\"/a\"}] x", 10),
            Err(BatchError::MalformedJson(_))
        ));
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
