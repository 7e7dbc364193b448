//! A request's messages in the order the transports hand them to the engine: runs of
//! consecutive publishes together, everything else one at a time.
//!
//! Why: a publisher that batches (CometD's `batch()`, faye's and the bench's arrays) sends
//! many publishes in one request or frame. Handled one by one, each would be its own log
//! append, awaited before the next; as a run they are checked one by one and stored in one
//! append ([`Engine::client_publishes`](super::Engine::client_publishes)). Publishes never
//! change a session or a held connect, so grouping them changes no other reply.

use bayou_protocol::channel::kind_of;
use bayou_protocol::{ChannelKind, Message, MessageError};

/// Part of a request.
// Short-lived (one request's worth); boxing `One` would cost an allocation per meta message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Segment {
    /// A meta message, or one that could not be decoded.
    One(Result<Message, MessageError>),
    /// Consecutive publishes (to broadcast or service channels).
    Publishes(Vec<Message>),
}

/// Splits a decoded request into segments, keeping the messages' order.
pub fn segments(batch: Vec<Result<Message, MessageError>>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for message in batch {
        match message {
            Ok(message) if kind_of(&message.channel) != ChannelKind::Meta => match out.last_mut() {
                Some(Segment::Publishes(run)) => run.push(message),
                _ => out.push(Segment::Publishes(vec![message])),
            },
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
            {"channel":"/service/echo","data":3},{"bad":true},{"channel":"/c","data":4}]"#;
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
            ["/a+/b", "/meta/connect", "/service/echo", "error", "/c"]
        );
    }
}
