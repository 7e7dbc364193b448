//! A request's messages in the order the transports hand them to the engine: runs of
//! consecutive broadcast publishes together, everything else one at a time.
//!
//! Why: a publisher that batches (CometD's `batch()`, faye's and the bench's arrays) sends
//! many publishes in one request or frame. Handled one by one, each would be its own log
//! append, awaited before the next; as a run they are checked one by one and stored in one
//! append ([`Engine::client_publishes`](super::Engine::client_publishes)). Broadcast publishes
//! never change a session or a held connect, so grouping them changes no other reply. A
//! `/service/**` message ends a run: its handler runs at once and may answer, so it must come
//! after the publishes before it are stored, as it would one message at a time.

use bayou_protocol::channel::kind_of;
use bayou_protocol::{ChannelKind, Message, MessageError};

/// Part of a request.
// Short-lived (one request's worth); boxing `One` would cost an allocation per meta message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Segment {
    /// A meta or service message, or one that could not be decoded.
    One(Result<Message, MessageError>),
    /// Consecutive publishes to broadcast channels.
    Publishes(Vec<Message>),
}

/// Splits a decoded request into segments, keeping the messages' order.
pub fn segments(batch: Vec<Result<Message, MessageError>>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for message in batch {
        match message {
            Ok(message) if kind_of(&message.channel) == ChannelKind::Broadcast => {
                match out.last_mut() {
                    Some(Segment::Publishes(run)) => run.push(message),
                    _ => out.push(Segment::Publishes(vec![message])),
                }
            }
            other => out.push(Segment::One(other)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bayou_protocol::decode_batch;

    #[test]
    fn consecutive_publishes_form_one_run() {
        let body = br#"[{"channel":"/a","data":1},{"channel":"/b","data":2},
            {"channel":"/meta/connect","clientId":"x","connectionType":"websocket"},
            {"channel":"/c","data":3},{"channel":"/service/echo","data":4},{"channel":"/d","data":5},
            {"bad":true},{"channel":"/e","data":6}]"#;
        let shape: Vec<String> = segments(decode_batch(body, 100).unwrap())
            .iter()
            .map(|s| match s {
                Segment::One(Ok(m)) => m.channel.clone(),
                Segment::One(Err(_)) => "error".to_owned(),
                Segment::Publishes(run) => run
                    .iter()
                    .map(|m| m.channel.as_str())
                    .collect::<Vec<_>>()
                    .join("+"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "/a+/b",
                "/meta/connect",
                "/c",
                "/service/echo",
                "/d",
                "error",
                "/e"
            ]
        );
    }
}
