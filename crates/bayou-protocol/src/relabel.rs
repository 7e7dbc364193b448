//! An encoded event delivered on another channel.
//!
//! A filtered subscription (`/topic/T?Industry='Energy'`) receives the topic's events with the
//! subscription as written for their `channel` — that is how clients such as EMP-Connector tell
//! their filtered subscriptions apart. Sessions therefore queue the shared event bytes and the
//! channel, and the message is written out only when it is sent: one copy of a large event per
//! session, however many of its filtered subscriptions it passes.
//!
//! Every event Bayou encodes starts with its channel (`{"channel":"…",…`), so relabelling is a
//! splice: the new channel, then the original bytes after the old one. Bytes of another shape
//! are parsed and re-encoded instead.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

const PREFIX: &[u8] = br#"{"channel":""#;

/// `event` (one encoded Bayeux message) with its `channel` replaced by `channel`; `None` if
/// `event` is not a JSON object with a `channel`.
pub fn with_channel(event: &[u8], channel: &str) -> Option<Bytes> {
    match old_channel_end(event) {
        Some(end) => {
            let mut out = BytesMut::with_capacity(event.len() + channel.len() + 2);
            out.put_slice(&PREFIX[..PREFIX.len() - 1]);
            let mut writer = out.writer();
            serde_json::to_writer(&mut writer, channel).ok()?;
            let mut out = writer.into_inner();
            out.put_slice(&event[end..]);
            Some(out.freeze())
        }
        None => {
            let mut message: Value = serde_json::from_slice(event).ok()?;
            *message.get_mut("channel")? = Value::String(channel.to_owned());
            serde_json::to_vec(&message).ok().map(Bytes::from)
        }
    }
}

/// Where the channel string that opens `event` ends (just past its closing quote).
fn old_channel_end(event: &[u8]) -> Option<usize> {
    let rest = event.strip_prefix(PREFIX)?;
    let mut escaped = false;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(PREFIX.len() + i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn splices_the_channel_of_an_encoded_event() {
        let event =
            br#"{"channel":"/topic/T","data":{"event":{"replayId":3},"sobject":{"Name":"a\"b"}}}"#;
        let out = with_channel(event, "/topic/T?Name='x'").unwrap();
        assert_eq!(
            &out[..],
            br#"{"channel":"/topic/T?Name='x'","data":{"event":{"replayId":3},"sobject":{"Name":"a\"b"}}}"#
        );
    }

    #[test]
    fn escapes_in_either_channel_are_kept_valid_json() {
        let event = br#"{"channel":"/a\"\\b","data":1}"#;
        let out = with_channel(event, "/c\"d").unwrap();
        assert_eq!(
            parsed(&out),
            serde_json::json!({"channel": "/c\"d", "data": 1})
        );
    }

    #[test]
    fn other_shapes_are_re_encoded() {
        let event = br#"{ "data": {"x": [1, 2]}, "channel": "/topic/T" }"#;
        let out = with_channel(event, "/topic/T?x=1").unwrap();
        assert_eq!(
            parsed(&out),
            serde_json::json!({"channel": "/topic/T?x=1", "data": {"x": [1, 2]}})
        );
        assert!(with_channel(b"[1]", "/x").is_none());
        assert!(with_channel(br#"{"data":1}"#, "/x").is_none());
        assert!(with_channel(br#"{"channel":"unterminated"#, "/x").is_none());
    }
}
