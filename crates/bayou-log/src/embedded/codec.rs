//! The on-disk record: key = replay id (8 bytes big-endian, so keys sort by id), value =
//! creation time (8 bytes), channel length (2 bytes), channel, [audience length (2 bytes),
//! audience,] delivered bytes.
//!
//! Channel names are at most 512 bytes, so the top bit of the channel length is free: it flags a
//! record that carries an audience (a targeted generic streaming push). Records written before
//! audiences existed have the bit clear and decode unchanged.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Audience, LogError, StoredEvent};

const HAS_AUDIENCE: u16 = 0x8000;
const LENGTH_MASK: u16 = 0x7fff;

pub fn key(replay_id: u64) -> [u8; 8] {
    replay_id.to_be_bytes()
}

pub fn replay_id(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// Replay ids per block of the by-channel index.
pub const INDEX_BLOCK: u64 = 1_024;

/// The key saying "channel has events in this block of [`INDEX_BLOCK`] replay ids": a 64-bit
/// hash of the channel, then the block number, both big-endian, so one channel's blocks are one
/// key range in id order. One key per channel per block, not per event: the index costs little
/// on the write path, and a read scans only the blocks a channel appears in. Two channels may
/// share a hash: a read checks each event's channel.
pub fn index_key(channel_hash: u64, block: u64) -> [u8; 16] {
    let mut key = [0_u8; 16];
    key[..8].copy_from_slice(&channel_hash.to_be_bytes());
    key[8..].copy_from_slice(&block.to_be_bytes());
    key
}

/// FNV-1a: stable across versions and machines (the index is on disk), and cheap.
pub fn channel_hash(channel: &str) -> u64 {
    clipped(channel)
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The block number of a by-channel index key.
pub fn index_block(key: &[u8]) -> Option<u64> {
    replay_id(key.get(8..16)?)
}

fn clipped(text: &str) -> &[u8] {
    let len = text.len().min(usize::from(LENGTH_MASK));
    &text.as_bytes()[..len]
}

pub fn encode_value(
    created_ms: i64,
    channel: &str,
    audience: Option<&Audience>,
    bytes: &[u8],
) -> Vec<u8> {
    let channel = clipped(channel);
    let audience = audience.map(|a| clipped(a.as_str()));
    let extra = audience.map_or(0, |a| 2 + a.len());
    let mut value = Vec::with_capacity(10 + channel.len() + extra + bytes.len());
    value.extend_from_slice(&created_ms.to_be_bytes());
    let flag = if audience.is_some() { HAS_AUDIENCE } else { 0 };
    // Lengths are clipped to 15 bits above, so the casts cannot truncate.
    value.extend_from_slice(&(channel.len() as u16 | flag).to_be_bytes());
    value.extend_from_slice(channel);
    if let Some(audience) = audience {
        value.extend_from_slice(&(audience.len() as u16).to_be_bytes());
        value.extend_from_slice(audience);
    }
    value.extend_from_slice(bytes);
    value
}

/// A record's parts, borrowed from the stored value (the payload is not copied).
pub struct Parts<'a> {
    pub created_ms: i64,
    pub channel: &'a str,
    pub audience: Option<&'a str>,
    pub bytes: &'a [u8],
}

fn read_u16(value: &[u8], at: usize) -> Option<u16> {
    let b = value.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Splits a record without copying it.
pub fn decode_parts(replay_id: u64, value: &[u8]) -> Result<Parts<'_>, LogError> {
    let corrupt = || LogError::Corrupt(replay_id);
    let created = value.get(..8).ok_or_else(corrupt)?;
    let created_ms = i64::from_be_bytes(created.try_into().map_err(|_| corrupt())?);
    let len = read_u16(value, 8).ok_or_else(corrupt)?;
    let channel_end = 10 + usize::from(len & LENGTH_MASK);
    let channel = value.get(10..channel_end).ok_or_else(corrupt)?;
    let channel = std::str::from_utf8(channel).map_err(|_| corrupt())?;
    let (audience, rest) = if len & HAS_AUDIENCE != 0 {
        let audience_len = usize::from(read_u16(value, channel_end).ok_or_else(corrupt)?);
        let start = channel_end + 2;
        let audience = value.get(start..start + audience_len).ok_or_else(corrupt)?;
        let audience = std::str::from_utf8(audience).map_err(|_| corrupt())?;
        (Some(audience), start + audience_len)
    } else {
        (None, channel_end)
    };
    let bytes = value.get(rest..).ok_or_else(corrupt)?;
    Ok(Parts {
        created_ms,
        channel,
        audience,
        bytes,
    })
}

/// The header of a record: creation time and channel, without copying the payload.
pub fn decode_header(replay_id: u64, value: &[u8]) -> Result<(i64, &str, &[u8]), LogError> {
    let parts = decode_parts(replay_id, value)?;
    Ok((parts.created_ms, parts.channel, parts.bytes))
}

pub fn decode(replay_id: u64, value: &[u8]) -> Result<StoredEvent, LogError> {
    let parts = decode_parts(replay_id, value)?;
    Ok(StoredEvent {
        replay_id,
        created_ms: parts.created_ms,
        channel: Arc::from(parts.channel),
        bytes: Bytes::copy_from_slice(parts.bytes),
        audience: parts.audience.and_then(Audience::from_stored),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let value = encode_value(1_700_000_000_123, "/chat/a", None, b"{\"x\":1}");
        let event = decode(7, &value).unwrap();
        assert_eq!(event.created_ms, 1_700_000_000_123);
        assert_eq!(&*event.channel, "/chat/a");
        assert_eq!(&event.bytes[..], b"{\"x\":1}");
        assert_eq!(event.audience, None);
        assert_eq!(replay_id(&key(7)), Some(7));
    }

    #[test]
    fn round_trip_with_an_audience() {
        let audience = Audience::of(["005A", "005B"]);
        let value = encode_value(5, "/u/news", audience.as_ref(), b"{}");
        let event = decode(9, &value).unwrap();
        assert_eq!(&*event.channel, "/u/news");
        assert_eq!(&event.bytes[..], b"{}");
        assert_eq!(event.audience, audience);
        assert!(event.is_for(Some("005B")));
        assert!(!event.is_for(Some("005C")));
        assert!(!event.is_for(None));
        let (_, channel, bytes) = decode_header(9, &value).unwrap();
        assert_eq!((channel, bytes), ("/u/news", &b"{}"[..]));
    }

    #[test]
    fn records_written_before_audiences_still_decode() {
        // The format before audiences: created, channel length, channel, bytes.
        let mut old = 42_i64.to_be_bytes().to_vec();
        old.extend_from_slice(&3_u16.to_be_bytes());
        old.extend_from_slice(b"/ch{\"a\":1}");
        let event = decode(1, &old).unwrap();
        assert_eq!(&*event.channel, "/ch");
        assert_eq!(&event.bytes[..], b"{\"a\":1}");
        assert_eq!(event.audience, None);
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let value = encode_value(1, "/chat/a", None, b"{}");
        for cut in 0..12 {
            assert!(decode(1, &value[..cut]).is_err(), "cut at {cut}");
        }
        let audience = Audience::of(["005A"]);
        let value = encode_value(1, "/u/a", audience.as_ref(), b"{}");
        for cut in 0..20 {
            assert!(decode(1, &value[..cut]).is_err(), "cut at {cut}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_record_decodes_to_what_was_encoded(
                created in any::<i64>(),
                channel in "/[a-z0-9/_]{0,60}",
                ids in proptest::collection::vec("[0-9A-Za-z]{15,18}", 0..5),
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let audience = Audience::of(&ids);
                let value = encode_value(created, &channel, audience.as_ref(), &bytes);
                let event = decode(3, &value).unwrap();
                prop_assert_eq!(event.created_ms, created);
                prop_assert_eq!(&*event.channel, channel.as_str());
                prop_assert_eq!(&event.bytes[..], &bytes[..]);
                prop_assert_eq!(event.audience, audience);
            }

            #[test]
            fn arbitrary_bytes_never_panic(value in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = decode(1, &value);
                let _ = decode_header(1, &value);
            }
        }
    }
}
