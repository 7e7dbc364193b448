//! The newest events, kept in memory so that following the tail (what the engine does all the
//! time) and short replays never go to the disk or the network. Both backends use it.
//!
//! Replay ids need not be contiguous (on JetStream record writes take sequence numbers too), so
//! the ring remembers the id it covers from (`covered_after`): every event with a larger id, up
//! to the head, is in the ring. When retention removes events, the ring forgets up to the
//! highest removed id, so it never serves an event that is gone.

use std::collections::VecDeque;

use crate::{ChannelFilter, ReadBatch, StoredEvent};

/// The newest events, up to a capacity.
pub struct Ring {
    events: VecDeque<StoredEvent>,
    capacity: usize,
    /// Every event with a replay id above this (up to the head) is in the ring.
    covered_after: u64,
    /// The last sequence taken from the tail (an event's or a record's).
    head: u64,
}

impl Ring {
    /// An empty ring whose log's head is `head`.
    pub fn new(capacity: usize, head: u64) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(65_536)),
            capacity: capacity.max(1),
            covered_after: head,
            head,
        }
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Adds events that follow the head, in order.
    pub fn extend(&mut self, events: impl IntoIterator<Item = StoredEvent>) {
        for event in events {
            self.push(event);
        }
    }

    /// Adds an event following the head, evicting the oldest past capacity.
    pub fn push(&mut self, event: StoredEvent) {
        if event.replay_id <= self.head {
            return;
        }
        self.head = event.replay_id;
        if self.events.len() == self.capacity {
            if let Some(oldest) = self.events.pop_front() {
                self.covered_after = oldest.replay_id;
            }
        }
        self.events.push_back(event);
    }

    /// Moves the head past a sequence that held no event (a record write).
    pub fn advance(&mut self, sequence: u64) {
        self.head = self.head.max(sequence);
    }

    /// Forgets events up to and including `replay_id` (they were removed from the stream).
    pub fn forget_through(&mut self, replay_id: u64) {
        while self
            .events
            .front()
            .is_some_and(|e| e.replay_id <= replay_id)
        {
            self.events.pop_front();
        }
        self.covered_after = self.covered_after.max(replay_id.min(self.head));
    }

    /// Serves a read when the ring covers everything after `after`; `None` sends it to NATS.
    pub fn read(
        &self,
        after: u64,
        filter: &ChannelFilter,
        max: usize,
        scan_limit: usize,
    ) -> Option<ReadBatch> {
        if after < self.covered_after {
            return None;
        }
        let start = self.events.partition_point(|e| e.replay_id <= after);
        let mut batch = ReadBatch {
            events: Vec::new(),
            scanned_through: after,
            reached_head: false,
        };
        let mut scanned = 0;
        for event in self.events.range(start..) {
            if filter.matches(&event.channel) {
                batch.events.push(event.clone());
            }
            batch.scanned_through = event.replay_id;
            scanned += 1;
            if batch.events.len() >= max || scanned >= scan_limit {
                break;
            }
        }
        let exhausted = start + scanned >= self.events.len();
        if exhausted {
            batch.scanned_through = self.head.max(after);
            batch.reached_head = true;
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(id: u64, channel: &str) -> StoredEvent {
        StoredEvent {
            replay_id: id,
            created_ms: 0,
            channel: channel.into(),
            bytes: Bytes::from_static(b"{}"),
            audience: None,
        }
    }

    #[test]
    fn reads_skip_record_sequences_and_report_the_head() {
        let mut ring = Ring::new(10, 4);
        ring.push(event(5, "/a"));
        ring.advance(6);
        ring.push(event(7, "/b"));
        ring.advance(9);
        let all = ring.read(4, &ChannelFilter::All, 10, 10).unwrap();
        let ids: Vec<u64> = all.events.iter().map(|e| e.replay_id).collect();
        assert_eq!(ids, [5, 7]);
        assert_eq!((all.scanned_through, all.reached_head), (9, true));
        let b = ring
            .read(5, &ChannelFilter::Pattern("/b".into()), 10, 10)
            .unwrap();
        assert_eq!(b.events.len(), 1);
        assert!(
            ring.read(3, &ChannelFilter::All, 10, 10).is_none(),
            "before the ring"
        );
    }

    #[test]
    fn eviction_and_expiry_move_what_the_ring_covers() {
        let mut ring = Ring::new(2, 0);
        for id in [2, 4, 6] {
            ring.push(event(id, "/a"));
        }
        assert!(ring.read(1, &ChannelFilter::All, 10, 10).is_none());
        let from_two = ring.read(2, &ChannelFilter::All, 10, 10).unwrap();
        assert_eq!(from_two.events.len(), 2);
        let limited = ring.read(2, &ChannelFilter::All, 1, 10).unwrap();
        assert_eq!((limited.scanned_through, limited.reached_head), (4, false));
        ring.forget_through(4);
        assert!(ring.read(3, &ChannelFilter::All, 10, 10).is_none());
        assert_eq!(
            ring.read(4, &ChannelFilter::All, 10, 10)
                .unwrap()
                .events
                .len(),
            1
        );
    }

    #[test]
    fn serves_a_contiguous_tail_and_evicts() {
        let mut ring = Ring::new(3, 10);
        ring.extend((11..=14).map(|i| event(i, if i % 2 == 0 { "/a" } else { "/b" })));
        assert!(
            ring.read(10, &ChannelFilter::All, 10, 100).is_none(),
            "11 was evicted"
        );
        let batch = ring
            .read(11, &ChannelFilter::Pattern("/a".into()), 10, 100)
            .unwrap();
        let ids: Vec<u64> = batch.events.iter().map(|e| e.replay_id).collect();
        assert_eq!(ids, vec![12, 14]);
        assert!(batch.reached_head);
        assert_eq!(batch.scanned_through, 14);
        let limited = ring.read(11, &ChannelFilter::All, 1, 100).unwrap();
        assert_eq!(limited.events.len(), 1);
        assert!(!limited.reached_head);
        assert_eq!(limited.scanned_through, 12);
    }

    #[test]
    fn forgetting_moves_the_start() {
        let mut ring = Ring::new(10, 0);
        ring.extend((1..=5).map(|i| event(i, "/a")));
        ring.forget_through(3);
        assert!(ring.read(2, &ChannelFilter::All, 10, 100).is_none());
        let batch = ring.read(3, &ChannelFilter::All, 10, 100).unwrap();
        assert_eq!(batch.events.len(), 2);
    }
}
