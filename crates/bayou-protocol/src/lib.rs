//! Bayeux/CometD on the wire, as Salesforce's Streaming API speaks it. No I/O.
//!
//! - [`message`]: decoding what clients send (a JSON array or one object), one message at a time
//!   so one bad message does not sink the rest of a batch.
//! - [`reply`]: encoding replies and delivered events, serialized once and shared as `Bytes`.
//! - [`channel`]: channel names, kinds, and `*` / `**` wildcard matching.
//! - [`advice`]: the reconnect advice the server gives.
//! - [`events`]: the Salesforce event shapes (PushTopic, generic, platform event, CDC).
//! - [`errors`]: the `code::text` error strings, byte-exact where Salesforce defines them.
//! - [`portable`]: published data every client can decode (no lone surrogates, bounded depth).
//! - [`api_version`]: what the version in `/cometd/{version}` changes (replay, dates, removals,
//!   server-initiated disconnects); [`offset_dates`]: the pre-37.0 `createdDate`.
//! - [`relabel`]: an encoded event sent on another channel (filtered subscriptions).
//!
//! Keeping this crate free of I/O lets the server, the client library and the fuzz targets
//! share one definition of the protocol.

#![forbid(unsafe_code)]

pub mod advice;
pub mod api_version;
pub mod channel;
pub mod errors;
pub mod events;
pub mod message;
pub mod offset_dates;
pub mod portable;
pub mod relabel;
pub mod reply;
pub mod time;

#[cfg(test)]
mod properties;

pub use advice::{Advice, Reconnect};
pub use channel::{ChannelError, ChannelKind, ChannelName, Subscription};
pub use message::{decode_batch, Batch, BatchError, Message, MessageError, RequestAdvice};
pub use reply::{array_len, encode_array, encode_bayeux_event, encode_delivery, put_array, Reply};

/// The Bayeux protocol version this implementation speaks.
pub const BAYEUX_VERSION: &str = "1.0";

/// Connection type names as they appear in `supportedConnectionTypes` and `connectionType`.
pub mod connection_type {
    pub const LONG_POLLING: &str = "long-polling";
    pub const WEBSOCKET: &str = "websocket";
}
