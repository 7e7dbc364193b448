//! The headers Bayou puts on the log stream's messages, and reading them back.

use async_nats::HeaderMap;
use bayou_log::Audience;

/// Creation time of an event, epoch milliseconds.
pub const CREATED: &str = "Bayou-Created";
/// An event's audience (user ids joined by commas).
pub const AUDIENCE: &str = "Bayou-Audience";
/// `del` on a record message that removes the record.
pub const OPERATION: &str = "Bayou-Op";
pub const REMOVE: &str = "del";
/// Where an event's bytes hold the placeholder for its replay id (see `placeholder.rs`).
pub const REPLAY_AT: &str = "Bayou-Replay-At";

/// The node that wrote a record message.
pub const NODE: &str = "Bayou-Node";

pub const NATS_TTL: &str = "Nats-TTL";
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
pub const BATCH_ID: &str = "Nats-Batch-Id";
pub const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
pub const BATCH_COMMIT: &str = "Nats-Batch-Commit";

/// A header's value as text.
pub fn text<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers?.get(name).map(|v| v.as_str())
}

/// An event's creation time; `fallback` when the header is missing or unreadable.
pub fn created_ms(headers: Option<&HeaderMap>, fallback: i64) -> i64 {
    text(headers, CREATED)
        .and_then(|v| v.parse().ok())
        .unwrap_or(fallback)
}

pub fn audience(headers: Option<&HeaderMap>) -> Option<Audience> {
    text(headers, AUDIENCE).and_then(Audience::from_stored)
}

pub fn is_removal(headers: Option<&HeaderMap>) -> bool {
    text(headers, OPERATION) == Some(REMOVE)
}

/// An event's bytes with its replay id filled in.
pub fn event_bytes(
    headers: Option<&HeaderMap>,
    stored: &bytes::Bytes,
    replay_id: u64,
) -> bytes::Bytes {
    match text(headers, REPLAY_AT).and_then(|v| super::placeholder::from_header(v, stored.len())) {
        Some(offsets) => super::placeholder::fill(stored, &offsets, replay_id),
        None => stored.clone(),
    }
}
