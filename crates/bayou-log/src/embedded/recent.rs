//! The newest events, kept in memory so that following the tail (what the engine does all the
//! time) and short replays never read the disk.
//!
//! The ring holds a contiguous run of replay ids ending at the head. When retention removes
//! events, the ring drops its prefix up to the highest removed id, so it never serves an event
//! that is gone from disk.

use std::collections::VecDeque;

use crate::{ChannelFilter, ReadBatch, StoredEvent};

pub(super) struct Recent {
    events: VecDeque<StoredEvent>,
    capacity: usize,
    /// The replay id the ring's first slot has (or would have, when empty).
    first_id: u64,
}

impl Recent {
    pub fn new(capacity: usize, head: u64) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(65_536)),
            capacity: capacity.max(1),
            first_id: head + 1,
        }
    }

    /// Appends events that follow the current head, evicting the oldest past capacity.
    pub fn extend(&mut self, events: Vec<StoredEvent>) {
        for event in events {
            debug_assert_eq!(event.replay_id, self.first_id + self.events.len() as u64);
            if self.events.len() == self.capacity {
                self.events.pop_front();
                self.first_id += 1;
            }
            self.events.push_back(event);
        }
    }

    /// Forgets everything up to and including `replay_id`.
    pub fn forget_through(&mut self, replay_id: u64) {
        while self.first_id <= replay_id && !self.events.is_empty() {
            self.events.pop_front();
            self.first_id += 1;
        }
        if self.events.is_empty() {
            self.first_id = self.first_id.max(replay_id + 1);
        }
    }

    /// Serves a read if the ring covers everything after `after`; `None` sends it to disk.
    pub fn read(
        &self,
        after: u64,
        filter: &ChannelFilter,
        max: usize,
        scan_limit: usize,
    ) -> Option<ReadBatch> {
        if after + 1 < self.first_id {
            return None;
        }
        let start = usize::try_from(after + 1 - self.first_id).ok()?;
        let mut batch = ReadBatch {
            events: Vec::new(),
            scanned_through: after,
            reached_head: false,
        };
        let mut scanned = 0;
        for event in self.events.iter().skip(start) {
            if filter.matches(&event.channel) {
                batch.events.push(event.clone());
            }
            batch.scanned_through = event.replay_id;
            scanned += 1;
            if batch.events.len() >= max || scanned >= scan_limit {
                break;
            }
        }
        let head = self.first_id + self.events.len() as u64 - 1;
        batch.reached_head = batch.scanned_through >= head;
        if batch.reached_head {
            batch.scanned_through = head.max(after);
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    fn event(id: u64, channel: &str) -> StoredEvent {
        StoredEvent {
            replay_id: id,
            created_ms: 0,
            channel: Arc::from(channel),
            bytes: Bytes::from(format!("{id}")),
            audience: None,
        }
    }

    #[test]
    fn serves_contiguous_tail_and_evicts() {
        let mut ring = Recent::new(3, 10);
        ring.extend(
            (11..=14)
                .map(|i| event(i, if i % 2 == 0 { "/a" } else { "/b" }))
                .collect(),
        );
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
        let mut ring = Recent::new(10, 0);
        ring.extend((1..=5).map(|i| event(i, "/a")).collect());
        ring.forget_through(3);
        assert!(ring.read(2, &ChannelFilter::All, 10, 100).is_none());
        let batch = ring.read(3, &ChannelFilter::All, 10, 100).unwrap();
        assert_eq!(batch.events.len(), 2);
    }
}
