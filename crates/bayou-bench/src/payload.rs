//! What every published message carries: `{"p":publisher,"r":room,"s":seq,"t":micros,"x":pad}`.
//!
//! `t` is microseconds since the run's start on the bench's own monotonic clock: publisher and
//! subscriber live in the same process, so publish-to-receive latency needs no clock sync.
//! `x` pads the message to the requested size (the size of the whole `data` object), so
//! servers are compared on the same bytes.

use serde::Deserialize;

/// The fields the receiving side reads back (the padding is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Stamp {
    /// Publisher index.
    pub p: u32,
    /// Room (channel) index.
    pub r: u32,
    /// Sequence number, per (publisher, room), from 0.
    pub s: u64,
    /// Send time, µs since the run's start.
    pub t: u64,
}

/// Encodes the `data` object of one message, padded to at least `size` bytes.
pub fn encode(stamp: Stamp, size: usize) -> String {
    let head = format!(
        "{{\"p\":{},\"r\":{},\"s\":{},\"t\":{},\"x\":\"",
        stamp.p, stamp.r, stamp.s, stamp.t
    );
    let pad = size.saturating_sub(head.len() + 2);
    let mut out = String::with_capacity(head.len() + pad + 2);
    out.push_str(&head);
    out.extend(std::iter::repeat_n('x', pad));
    out.push_str("\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::stamp as decode;

    #[test]
    fn round_trips_and_pads_to_the_size() {
        let stamp = Stamp {
            p: 3,
            r: 99,
            s: 123_456,
            t: 987_654_321,
        };
        for size in [0, 10, 50, 200, 4096] {
            let data = encode(stamp, size);
            assert!(data.len() >= size, "{size}: {}", data.len());
            if size > 60 {
                assert_eq!(data.len(), size);
            }
            assert_eq!(decode(&data), Some(stamp));
        }
        assert_eq!(decode("{\"text\":\"hello\"}"), None);
    }
}
