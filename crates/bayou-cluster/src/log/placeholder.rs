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
//! Where is the placeholder? The event is encoded twice, with two placeholders that differ in
//! every digit but the first; the replay id is exactly where the two encodings differ. Data
//! that happens to contain the same digits is the same in both encodings, so it is never
//! mistaken for the id.

use bayou_log::Encoder;
use bytes::{BufMut, Bytes, BytesMut};

/// Two 20-digit ids (as wide as any `u64`) that differ in their last 19 digits.
const FIRST: u64 = 11_111_111_111_111_111_111;
const SECOND: u64 = 12_222_222_222_222_222_222;
const WIDTH: usize = 20;

/// Why an event could not be encoded with a placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event's encoding does not hold its replay id as a decimal number")]
pub struct NoPlaceholder;

/// The event's bytes with the [`FIRST`] placeholder, and the offsets of each occurrence of it.
pub fn encode(encoder: &Encoder, created_ms: i64) -> Result<(Bytes, Vec<usize>), NoPlaceholder> {
    let first = encoder(FIRST, created_ms);
    let second = encoder(SECOND, created_ms);
    if first.len() != second.len() {
        return Err(NoPlaceholder);
    }
    let mut offsets = Vec::new();
    let mut i = 0;
    while i < first.len() {
        if first[i] == second[i] {
            i += 1;
            continue;
        }
        // A run of differences: the last 19 digits of the placeholder, after its leading '1'.
        let start = i.checked_sub(1).ok_or(NoPlaceholder)?;
        let end = start + WIDTH;
        let is_placeholder = first.get(start..end) == Some(FIRST.to_string().as_bytes())
            && second.get(start..end) == Some(SECOND.to_string().as_bytes());
        if !is_placeholder {
            return Err(NoPlaceholder);
        }
        offsets.push(start);
        i = end;
    }
    Ok((first, offsets))
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

/// The offsets as a header value (`12,140`).
pub fn to_header(offsets: &[usize]) -> String {
    offsets
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
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

    fn json_encoder(data: &'static str) -> Encoder {
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
        let header = to_header(&offsets);
        assert_eq!(from_header(&header, stored.len()), Some(offsets));
    }

    #[test]
    fn data_holding_the_placeholder_digits_is_left_alone() {
        let encoder =
            json_encoder(r#"{"looks_like":11111111111111111111,"too":12222222222222222222}"#);
        let (stored, offsets) = encode(&encoder, 0).unwrap();
        assert_eq!(offsets.len(), 2, "only the id's two places");
        assert_eq!(fill(&stored, &offsets, 5), encoder(5, 0));
    }

    #[test]
    fn an_encoding_without_the_id_needs_no_filling() {
        let encoder: Encoder = Box::new(|_, _| Bytes::from_static(b"{\"static\":true}"));
        let (stored, offsets) = encode(&encoder, 0).unwrap();
        assert!(offsets.is_empty());
        assert_eq!(fill(&stored, &offsets, 9), stored);
    }

    #[test]
    fn ids_not_written_in_decimal_are_refused() {
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
