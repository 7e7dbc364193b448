//! The headers Bayou puts on the log stream's messages, and reading them back.

use async_nats::HeaderMap;
use bayou_log::Audience;

/// An event's creation time (epoch milliseconds) and, after a space, where its bytes hold the
/// placeholder for its replay id (`placeholder.rs`): `1733580000000 841,1203`. One header
/// rather than two: one value fewer to make per event in the writer and to parse back in each
/// node's tail (a small part of what the writer's change saved; docs/benchmarks.md).
pub const EVENT: &str = "Bayou-Event";
/// Before [`EVENT`], its two halves were headers of their own; events stored so are still read.
pub const CREATED: &str = "Bayou-Created";
/// An event's audience (user ids joined by commas).
pub const AUDIENCE: &str = "Bayou-Audience";
/// `del` on a record message that removes the record.
pub const OPERATION: &str = "Bayou-Op";
pub const REMOVE: &str = "del";
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

/// The value of an event's [`EVENT`] header.
pub fn event_value(created_ms: i64, placeholder_offsets: &[usize]) -> String {
    use std::fmt::Write as _;
    let mut value = String::with_capacity(14 + 6 * placeholder_offsets.len());
    let _ = write!(value, "{created_ms}");
    if !placeholder_offsets.is_empty() {
        value.push(' ');
        super::placeholder::write_offsets(&mut value, placeholder_offsets);
    }
    value
}

/// An event's creation time and its placeholder offsets (as text), from [`EVENT`] or, for
/// events stored before it, from [`CREATED`] and [`REPLAY_AT`].
fn event_parts(headers: Option<&HeaderMap>) -> (Option<&str>, Option<&str>) {
    match text(headers, EVENT) {
        Some(value) => match value.split_once(' ') {
            Some((created, offsets)) => (Some(created), Some(offsets)),
            None => (Some(value), None),
        },
        None => (text(headers, CREATED), text(headers, REPLAY_AT)),
    }
}

/// An event's creation time; `fallback` when the header is missing or unreadable.
pub fn created_ms(headers: Option<&HeaderMap>, fallback: i64) -> i64 {
    event_parts(headers)
        .0
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
    let offsets = event_parts(headers).1;
    match offsets.and_then(|v| super::placeholder::from_header(v, stored.len())) {
        Some(offsets) => super::placeholder::fill(stored, &offsets, replay_id),
        None => stored.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, *value);
        }
        map
    }

    #[test]
    fn an_event_header_carries_the_time_and_the_placeholder() {
        let stored = bytes::Bytes::from_static(b"{\"replayId\":10000000000000000000}");
        let at = stored.iter().position(|b| *b == b'1').unwrap();
        let with = headers(&[(EVENT, &event_value(1_700_000_000_123, &[at]))]);
        assert_eq!(created_ms(Some(&with), 7), 1_700_000_000_123);
        let filled = event_bytes(Some(&with), &stored, 42);
        assert_eq!(&filled[..], &b"{\"replayId\":42}"[..]);
        let without = headers(&[(EVENT, &event_value(5, &[]))]);
        assert_eq!(created_ms(Some(&without), 7), 5);
        assert_eq!(event_bytes(Some(&without), &stored, 42), stored);
    }

    #[test]
    fn events_stored_with_the_two_older_headers_still_read() {
        let stored = bytes::Bytes::from_static(b"{\"replayId\":10000000000000000000}");
        let at = stored.iter().position(|b| *b == b'1').unwrap();
        let old = headers(&[(CREATED, "1700000000123"), (REPLAY_AT, &at.to_string())]);
        assert_eq!(created_ms(Some(&old), 7), 1_700_000_000_123);
        assert_ne!(event_bytes(Some(&old), &stored, 42), stored);
        assert_eq!(created_ms(None, 7), 7);
    }
}
