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
/// The writer's batch id, on a batch's last message: how a writer that lost the reply finds out
/// whether its batch was stored.
pub const BATCH: &str = "Bayou-Batch";

/// The node that wrote a record message.
pub const NODE: &str = "Bayou-Node";

pub const NATS_TTL: &str = "Nats-TTL";
pub const EXPECTED_LAST_SEQUENCE: &str = "Nats-Expected-Last-Sequence";
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
