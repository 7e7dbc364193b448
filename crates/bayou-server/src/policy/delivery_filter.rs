//! What a filtered subscription lets through. A [`SecurityPolicy`](super::SecurityPolicy)
//! builds one when it accepts a subscription such as `/topic/T?Industry='Energy'`; the engine
//! only calls it, for every event the subscription matches, live or replayed.

use bytes::Bytes;

/// Decides, for a filtered subscription, whether an event reaches it and in what bytes.
pub trait DeliveryFilter: Send + Sync + std::fmt::Debug {
    /// The message to deliver for an event encoded as `event`, or `None` to skip it.
    fn deliver(&self, event: &[u8]) -> Option<Bytes>;
}
