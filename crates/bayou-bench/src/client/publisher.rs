//! A publisher's numbering: which room its next batch goes to, and each message's sequence
//! number and send stamp. Everything it publishes is counted here, once, as sent and as owed
//! to the room's members.

use std::sync::atomic::Ordering::Relaxed;

use super::Shared;
use crate::payload;

/// Everything a publisher needs to number and stamp its messages.
pub struct PublisherState {
    pub index: u32,
    seqs: Vec<u64>,
    next_batch: u64,
    next_id: u64,
}

/// One batch ready to send.
pub struct Batch {
    pub channel: String,
    pub body_messages: Vec<String>,
    pub first_id: u64,
}

impl PublisherState {
    pub fn new(index: usize, rooms: usize) -> Self {
        Self {
            index: index as u32,
            seqs: vec![0; rooms],
            next_batch: 0,
            next_id: 0,
        }
    }

    pub fn batches_sent(&self) -> u64 {
        self.next_batch
    }

    /// Builds the next batch (to the next room in turn) and counts it as published.
    pub fn next(&mut self, shared: &Shared) -> Batch {
        let config = &shared.config;
        let rooms = config.layout.rooms;
        let room = (self.index as usize + self.next_batch as usize) % rooms;
        self.next_batch += 1;
        let recorder = &shared.recorder;
        let t = recorder.now_us();
        let body_messages: Vec<String> = (0..config.batch)
            .map(|_| {
                let s = self.seqs[room];
                self.seqs[room] += 1;
                let stamp = payload::Stamp {
                    p: self.index,
                    r: room as u32,
                    s,
                    t,
                };
                payload::encode(stamp, config.message_bytes)
            })
            .collect();
        let count = config.batch as u64;
        recorder.published.fetch_add(count, Relaxed);
        if recorder.is_measured(t) {
            recorder.published_measured.fetch_add(count, Relaxed);
        }
        recorder
            .expected
            .fetch_add(count * shared.members[room], Relaxed);
        let first_id = self.next_id;
        self.next_id += count;
        Batch {
            channel: config.layout.channel(room),
            body_messages,
            first_id,
        }
    }
}
