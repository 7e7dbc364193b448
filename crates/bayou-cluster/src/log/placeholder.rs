//! An event's bytes before its replay id is known.
//!
//! An event is serialized once, with its replay id inside — but in a cluster the replay id is
//! the stream sequence JetStream assigns when it stores the message, after the bytes are sent.
//! Predicting the sequence (`Nats-Expected-Last-Sequence`) would make every node race for each
//! number, and the node that just won always learns the next number first: the others starve.
//! So the publisher encodes the event with a placeholder id and says in a header where the
//! placeholder is; every node fills in the sequence as it takes the event from the stream's
//! tail — one copy per node, shared by all of that node's subscribers.
//!
//! Where is the placeholder? Each event gets its own, drawn at random after its data is known:
//! twenty digits, a `1` then nineteen random ones (below `u64::MAX`, so as wide as any id). The
//! event is encoded once with it, and every place those twenty digits appear is where the id
//! goes. Data cannot be mistaken for the id: the publisher gave its data before the placeholder
//! was drawn, and a given 20-digit string turns up in it with odds of about one in 10^18 per
//! position. (It used to be found by encoding each event twice with two placeholders and
//! comparing; the second encoding was most of the cost of building a message.) Debug builds,
//! which every test runs, still encode a second time and check the offsets hold the id.

use bayou_log::Encoder;
use bytes::{BufMut, Bytes, BytesMut};

/// Digits in a placeholder: as wide as any `u64`.
const WIDTH: usize = 20;
/// The smallest placeholder (`1` and nineteen zeros); every one is below this plus
/// [`SPREAD`], which stays under `u64::MAX`.
const LOWEST: u64 = 10_000_000_000_000_000_000;
const SPREAD: u64 = 8_000_000_000_000_000_000;

/// Why an event could not be encoded with a placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event's encoding does not hold its replay id as a decimal number")]
pub struct NoPlaceholder;

/// The event's bytes with a fresh placeholder, and the offsets of each occurrence of it.
pub fn encode(encoder: &Encoder, created_ms: i64) -> Result<(Bytes, Vec<usize>), NoPlaceholder> {
    encode_with(encoder, created_ms, LOWEST + rand::random_range(0..SPREAD))
}

fn encode_with(
    encoder: &Encoder,
    created_ms: i64,
    placeholder: u64,
) -> Result<(Bytes, Vec<usize>), NoPlaceholder> {
    let bytes = encoder(placeholder, created_ms);
    let digits = placeholder.to_string();
    let offsets: Vec<usize> = memchr::memmem::find_iter(&bytes, digits.as_bytes()).collect();
    if cfg!(debug_assertions) {
        check(encoder, created_ms, &bytes, &offsets)?;
    }
    Ok((bytes, offsets))
}

/// Debug builds' check that the offsets are exactly where the id goes: the event encoded with
/// another id must be the stored bytes filled with that id.
fn check(
    encoder: &Encoder,
    created_ms: i64,
    stored: &Bytes,
    offsets: &[usize],
) -> Result<(), NoPlaceholder> {
    let other = 12_222_222_222_222_222_222;
    if fill(stored, offsets, other) == encoder(other, created_ms) {
        Ok(())
    } else {
        Err(NoPlaceholder)
    }
}

/// The stored bytes with `replay_id` where the placeholder is.
pub fn fill(stored: &Bytes, offsets: &[usize], replay_id: u64) -> Bytes {
    if offsets.is_empty() {
        return stored.clone();
    }
    let digits = replay_id.to_string();
    let mut filled = BytesMut::with_capacity(stored.len());
    let mut copied = 0;
    for &offset in offsets {
        let Some(before) = stored.get(copied..offset) else {
            return stored.clone();
        };
        filled.put_slice(before);
        filled.put_slice(digits.as_bytes());
        copied = offset + WIDTH;
    }
    filled.put_slice(stored.get(copied..).unwrap_or_default());
    filled.freeze()
}

/// Writes the offsets as they go in a header (`12,140`).
pub fn write_offsets(out: &mut String, offsets: &[usize]) {
    use std::fmt::Write as _;
    for (i, offset) in offsets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{offset}");
    }
}

/// Offsets read back from a header, checked against the stored bytes' length; `None` when
/// they do not fit (the bytes are then delivered as stored).
pub fn from_header(value: &str, stored_len: usize) -> Option<Vec<usize>> {
    let offsets: Vec<usize> = value
        .split(',')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    let ordered = offsets.windows(2).all(|w| w[0] + WIDTH <= w[1]);
    let fits = offsets.last().is_none_or(|last| last + WIDTH <= stored_len);
    (ordered && fits).then_some(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_encoder(data: &str) -> Encoder {
        let data = data.to_owned();
        Box::new(move |id, ms| {
            Bytes::from(format!(
                r#"{{"data":{data},"event":{{"replayId":{id}}},"ms":{ms},"ext":{{"replayId":{id}}}}}"#
            ))
        })
    }

    #[test]
    fn the_id_is_found_and_filled_in_everywhere_it_appears() {
        let encoder = json_encoder(r#"{"n":1}"#);
        let (stored, offsets) = encode(&encoder, 7).unwrap();
        assert_eq!(offsets.len(), 2);
        for id in [1, 42, 123_456_789, u64::MAX] {
            assert_eq!(fill(&stored, &offsets, id), encoder(id, 7));
        }
        let mut header = String::new();
        write_offsets(&mut header, &offsets);
        assert_eq!(from_header(&header, stored.len()), Some(offsets));
    }

    #[test]
    fn each_event_gets_its_own_placeholder() {
        let encoder = json_encoder(r#"{"n":1}"#);
        let (first, _) = encode(&encoder, 7).unwrap();
        let (second, _) = encode(&encoder, 7).unwrap();
        assert_ne!(first, second, "two draws of 63 bits");
    }

    #[test]
    fn data_holding_a_placeholder_drawn_before_is_left_alone() {
        // Data that holds the very digits of an earlier event's placeholder (say, copied from
        // NATS) is not taken for this event's id.
        let encoder = json_encoder(r#"{"n":1}"#);
        let (stored, offsets) = encode(&encoder, 0).unwrap();
        let seen = std::str::from_utf8(&stored[offsets[0]..offsets[0] + WIDTH])
            .unwrap()
            .to_owned();
        let copying = json_encoder(&format!(r#"{{"copied":{seen}}}"#));
        let (stored, offsets) = encode(&copying, 0).unwrap();
        assert_eq!(offsets.len(), 2, "only the id's two places");
        assert_eq!(fill(&stored, &offsets, 5), copying(5, 0));
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_placeholder_in_the_data_is_caught_in_debug_builds() {
        let encoder = json_encoder(r#"{"planted":10000000000000000042}"#);
        let planted = encode_with(&encoder, 0, 10_000_000_000_000_000_042);
        assert_eq!(planted, Err(NoPlaceholder));
    }

    #[test]
    fn an_encoding_without_the_id_needs_no_filling() {
        let encoder: Encoder = Box::new(|_, _| Bytes::from_static(b"{\"static\":true}"));
        let (stored, offsets) = encode(&encoder, 0).unwrap();
        assert!(offsets.is_empty());
        assert_eq!(fill(&stored, &offsets, 9), stored);
    }

    #[test]
    #[cfg(debug_assertions)]
    fn ids_not_written_in_decimal_are_refused() {
        // Caught by the debug builds' check (the tests'), which every encoder passes through.
        let hex: Encoder = Box::new(|id, _| Bytes::from(format!("{id:x}")));
        assert_eq!(encode(&hex, 0), Err(NoPlaceholder));
        let short: Encoder = Box::new(|id, _| Bytes::from(format!("{}", id % 1000)));
        assert_eq!(encode(&short, 0), Err(NoPlaceholder));
    }

    #[test]
    fn bad_headers_are_not_trusted() {
        assert_eq!(from_header("5,10", 100), None, "overlapping");
        assert_eq!(from_header("90", 100), None, "past the end");
        assert_eq!(from_header("x", 100), None);
    }
}
