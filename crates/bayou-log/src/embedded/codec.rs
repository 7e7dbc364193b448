//! The on-disk record: key = replay id (8 bytes big-endian, so keys sort by id), value =
//! creation time (8 bytes), channel length (2 bytes), channel, delivered bytes.

use std::sync::Arc;

use bytes::Bytes;

use crate::{LogError, StoredEvent};

pub fn key(replay_id: u64) -> [u8; 8] {
    replay_id.to_be_bytes()
}

pub fn replay_id(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

pub fn encode_value(created_ms: i64, channel: &str, bytes: &[u8]) -> Vec<u8> {
    let channel_len = u16::try_from(channel.len()).unwrap_or(u16::MAX);
    let channel = &channel.as_bytes()[..usize::from(channel_len)];
    let mut value = Vec::with_capacity(10 + channel.len() + bytes.len());
    value.extend_from_slice(&created_ms.to_be_bytes());
    value.extend_from_slice(&channel_len.to_be_bytes());
    value.extend_from_slice(channel);
    value.extend_from_slice(bytes);
    value
}

/// The header of a record: creation time and channel, without copying the payload.
pub fn decode_header(replay_id: u64, value: &[u8]) -> Result<(i64, &str, &[u8]), LogError> {
    let corrupt = || LogError::Corrupt(replay_id);
    let created = value.get(..8).ok_or_else(corrupt)?;
    let created_ms = i64::from_be_bytes(created.try_into().map_err(|_| corrupt())?);
    let len = value.get(8..10).ok_or_else(corrupt)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let channel = value.get(10..10 + len).ok_or_else(corrupt)?;
    let channel = std::str::from_utf8(channel).map_err(|_| corrupt())?;
    let bytes = value.get(10 + len..).ok_or_else(corrupt)?;
    Ok((created_ms, channel, bytes))
}

pub fn decode(replay_id: u64, value: &[u8]) -> Result<StoredEvent, LogError> {
    let (created_ms, channel, bytes) = decode_header(replay_id, value)?;
    Ok(StoredEvent {
        replay_id,
        created_ms,
        channel: Arc::from(channel),
        bytes: Bytes::copy_from_slice(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let value = encode_value(1_700_000_000_123, "/chat/a", b"{\"x\":1}");
        let event = decode(7, &value).unwrap();
        assert_eq!(event.created_ms, 1_700_000_000_123);
        assert_eq!(&*event.channel, "/chat/a");
        assert_eq!(&event.bytes[..], b"{\"x\":1}");
        assert_eq!(replay_id(&key(7)), Some(7));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let value = encode_value(1, "/chat/a", b"{}");
        for cut in 0..12 {
            assert!(decode(1, &value[..cut]).is_err(), "cut at {cut}");
        }
    }
}
