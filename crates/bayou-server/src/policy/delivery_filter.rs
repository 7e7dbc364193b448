//! What a filtered subscription lets through. A [`SecurityPolicy`](super::SecurityPolicy)
//! builds one when it accepts a subscription such as `/topic/T?Industry='Energy'`; the engine
//! only calls it, for every event the subscription matches, live or replayed.
//!
//! A filter does not produce bytes: it says whether the event goes out and on which channel,
//! and the session queues the shared event with that channel (see `engine/queue.rs`). The
//! event is parsed at most once however many filters read it ([`EventView`]), so a thousand
//! filtered subscriptions to one topic cost one parse and one copy per session, not a thousand.

use std::cell::OnceCell;
use std::sync::Arc;

use serde_json::Value;

/// Decides, for a filtered subscription, whether an event reaches it and on what channel.
pub trait DeliveryFilter: Send + Sync + std::fmt::Debug {
    /// How `event` is delivered to the subscription, or `None` to skip it.
    fn deliver(&self, event: &EventView<'_>) -> Option<Delivery>;
}

/// How a filtered subscription receives an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// As it was encoded.
    AsIs,
    /// With this channel instead of the event's (the subscription as the client wrote it).
    OnChannel(Arc<str>),
}

/// An event as filters read it: its encoded bytes, and its JSON parsed on first use and then
/// shared by every filter that reads the same event.
#[derive(Debug)]
pub struct EventView<'a> {
    bytes: &'a [u8],
    parsed: OnceCell<Option<Value>>,
}

impl<'a> EventView<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            parsed: OnceCell::new(),
        }
    }

    /// The event as encoded.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The event's JSON, or `None` if it is not JSON.
    pub fn json(&self) -> Option<&Value> {
        self.parsed
            .get_or_init(|| serde_json::from_slice(self.bytes).ok())
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_and_shares_the_result() {
        let view = EventView::new(br#"{"channel":"/topic/T","data":{"sobject":{"Id":"1"}}}"#);
        let first = view.json().unwrap() as *const Value;
        let second = view.json().unwrap() as *const Value;
        assert_eq!(first, second);
        assert_eq!(view.json().unwrap()["data"]["sobject"]["Id"], "1");
        assert!(EventView::new(b"not json").json().is_none());
    }
}
