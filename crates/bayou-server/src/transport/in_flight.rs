//! A WebSocket publisher's frames in flight: frames of broadcast publishes whose events are
//! queued in the log and not yet stored.
//!
//! Why: a socket used to handle a frame, wait until its events were stored, answer, and only
//! then read the next frame. A publisher sending faster than one store's round trip (CometD's
//! and faye's WebSocket transports send without waiting for replies) was held to one frame per
//! round trip: about a thousand a second with `fdatasync`, fewer through a replicated JetStream
//! stream. Now the socket queues a publish frame's events in the log (which fixes their order)
//! and goes on reading; each frame is answered, in the order the frames came, once its events
//! are stored. Other messages (connects, subscribes, disconnects) wait until every frame
//! before them is answered, so the replies a client sees keep its own order.
//!
//! Bounded per socket in frames and in bytes: once full, the socket reads nothing more until
//! the oldest frame is answered, and TCP slows the publisher down.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use bayou_protocol::Reply;
use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};

use crate::engine::QueuedPublishes;

/// Most frames a socket has in flight.
pub const MAX_FRAMES: usize = 64;

type Answer = Pin<Box<dyn Future<Output = Vec<Bytes>> + Send>>;

/// Publish frames queued in the log, answered in the order they came.
pub struct InFlight {
    answers: FuturesOrdered<Answer>,
    /// The size of each frame in flight, oldest first.
    sizes: VecDeque<usize>,
    bytes: usize,
    max_bytes: usize,
}

impl InFlight {
    /// At most [`MAX_FRAMES`] frames and `max_bytes` of them (a frame larger than that still
    /// goes in alone).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            answers: FuturesOrdered::new(),
            sizes: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Whether another frame may be read.
    pub fn has_room(&self) -> bool {
        self.sizes.len() < MAX_FRAMES && (self.is_empty() || self.bytes < self.max_bytes)
    }

    /// Adds a frame of `size` bytes whose publishes are queued.
    pub fn push(&mut self, size: usize, queued: QueuedPublishes) {
        self.sizes.push_back(size);
        self.bytes += size;
        self.answers.push_back(Box::pin(async move {
            let replies = queued.replies().await;
            replies.iter().map(Reply::encode).collect()
        }));
    }

    /// The oldest frame's replies, once its events are stored; `None` when nothing is in
    /// flight.
    pub async fn next(&mut self) -> Option<Vec<Bytes>> {
        let replies = self.answers.next().await?;
        if let Some(size) = self.sizes.pop_front() {
            self.bytes -= size;
        }
        Some(replies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_by_frames_or_by_bytes_but_never_empty_and_full() {
        let in_flight = InFlight::new(100);
        assert!(in_flight.has_room());
        let mut sizes = InFlight::new(100);
        sizes.sizes.push_back(150);
        sizes.bytes = 150;
        assert!(!sizes.has_room(), "over the bytes");
        let mut frames = InFlight::new(usize::MAX);
        frames.sizes.extend(std::iter::repeat_n(1, MAX_FRAMES));
        assert!(!frames.has_room(), "at the frames");
        frames.sizes.pop_back();
        assert!(frames.has_room());
    }
}
