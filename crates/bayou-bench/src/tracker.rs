//! Lost and duplicated messages, per subscriber, by (publisher, room, sequence).
//!
//! Each publisher numbers its messages per room from 0, so what one subscriber should see of
//! one (publisher, room) stream is exactly 0, 1, 2, …. A stream keeps the lowest sequence not
//! yet seen (`next`) and the few seen above it (servers may reorder concurrent publishes), so
//! memory stays small and a duplicate is recognised however late it comes.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

#[derive(Debug, Default)]
struct Stream {
    next: u64,
    ahead: BTreeSet<u64>,
}

/// What one delivery was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    Duplicate,
}

#[derive(Debug, Default)]
pub struct Tracker {
    /// Keyed by (publisher, room); Fx hashing, as the keys are the bench's own small numbers.
    streams: FxHashMap<(u32, u32), Stream>,
}

impl Tracker {
    pub fn see(&mut self, publisher: u32, room: u32, seq: u64) -> Seen {
        let stream = self.streams.entry((publisher, room)).or_default();
        if seq < stream.next || (seq > stream.next && !stream.ahead.insert(seq)) {
            return Seen::Duplicate;
        }
        if seq == stream.next {
            stream.next += 1;
            while stream.ahead.remove(&stream.next) {
                stream.next += 1;
            }
        }
        Seen::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_in_order_and_out_of_order() {
        let mut t = Tracker::default();
        assert_eq!(t.see(0, 0, 0), Seen::First);
        assert_eq!(t.see(0, 0, 2), Seen::First);
        assert_eq!(t.see(0, 0, 2), Seen::Duplicate);
        assert_eq!(t.see(0, 0, 1), Seen::First);
        assert_eq!(t.see(0, 0, 0), Seen::Duplicate);
        assert_eq!(t.see(0, 0, 1), Seen::Duplicate);
        assert_eq!(t.see(0, 0, 3), Seen::First);
        // Other streams are independent.
        assert_eq!(t.see(1, 0, 0), Seen::First);
        assert_eq!(t.see(0, 1, 0), Seen::First);
        assert!(t.streams[&(0, 0)].ahead.is_empty());
        assert_eq!(t.streams[&(0, 0)].next, 4);
    }
}
