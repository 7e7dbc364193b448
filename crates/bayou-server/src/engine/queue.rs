//! A session's queue of messages waiting to be sent, and what they cost in memory.
//!
//! Events are encoded once and shared: an unfiltered delivery queues the event's own `Bytes`.
//! A delivery to a filtered subscription goes out on the subscription's channel, so it queues
//! the same shared bytes plus that channel, and the message is written out when it is sent
//! ([`bayou_protocol::relabel`]). A session with many filtered subscriptions that an event
//! passes therefore holds one copy of the event, not one per subscription.
//!
//! A session on an API version before 37.0 gets `createdDate` in that version's form, also
//! written out when the message is sent ([`bayou_protocol::offset_dates`]).
//!
//! The queue's byte count is what it keeps alive: every queued buffer once. An event's
//! deliveries to one session are queued one after another (the dispatcher handles one event at
//! a time), so a message that shares its buffer with the one queued before it costs only its
//! channel.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use bayou_protocol::api_version::ApiVersion;

use crate::policy::Delivery;

/// The most message bytes one reply (a long-polling answer, a WebSocket frame) is made of,
/// unless a single message is larger. Relabelled deliveries are written out when taken, so
/// this also bounds what a reply costs the server beyond the queue itself.
pub(crate) const REPLY_BYTES: usize = 1 << 20;

/// A queued message.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// Sent as it is.
    Encoded(Bytes),
    /// The shared `event`, sent with `channel` as its channel when there is one, and with its
    /// `createdDate` as versions before 37.0 wrote it when `offset_dates`.
    Rewritten {
        event: Bytes,
        channel: Option<Arc<str>>,
        offset_dates: bool,
    },
}

impl Outgoing {
    /// `event` for a session on `version`, through its subscription's filter's choice when it
    /// has one.
    pub fn delivering(event: &Bytes, delivery: Option<Delivery>, version: ApiVersion) -> Self {
        let channel = match delivery {
            Some(Delivery::OnChannel(channel)) => Some(channel),
            Some(Delivery::AsIs) | None => None,
        };
        let offset_dates = version.has_offset_dates();
        if channel.is_none() && !offset_dates {
            return Outgoing::Encoded(event.clone());
        }
        Outgoing::Rewritten {
            event: event.clone(),
            channel,
            offset_dates,
        }
    }

    /// The shared buffer the message is made from.
    fn buffer(&self) -> &Bytes {
        match self {
            Outgoing::Encoded(bytes) => bytes,
            Outgoing::Rewritten { event, .. } => event,
        }
    }

    /// The channel a rewritten message goes out on, if not the event's own.
    fn channel_len(&self) -> usize {
        match self {
            Outgoing::Rewritten {
                channel: Some(channel),
                ..
            } => channel.len(),
            _ => 0,
        }
    }

    /// About how many bytes the message is when written out.
    fn wire_len(&self) -> usize {
        match self {
            Outgoing::Encoded(bytes) => bytes.len(),
            Outgoing::Rewritten { event, .. } => event.len() + self.channel_len(),
        }
    }

    /// The bytes to send.
    fn into_bytes(self) -> Bytes {
        match self {
            Outgoing::Encoded(bytes) => bytes,
            // Events are encoded by Bayou and always carry a channel; should one not, it goes
            // out unchanged rather than not at all. Events without a `createdDate` (platform
            // events, Change Data Capture) have nothing to rewrite.
            Outgoing::Rewritten {
                event,
                channel,
                offset_dates,
            } => {
                let mut bytes = match channel {
                    Some(channel) => {
                        bayou_protocol::relabel::with_channel(&event, &channel).unwrap_or(event)
                    }
                    None => event,
                };
                if offset_dates {
                    if let Some(rewritten) =
                        bayou_protocol::offset_dates::with_offset_created_date(&bytes)
                    {
                        bytes = rewritten;
                    }
                }
                bytes
            }
        }
    }
}

impl From<Bytes> for Outgoing {
    fn from(bytes: Bytes) -> Self {
        Outgoing::Encoded(bytes)
    }
}

fn same_buffer(a: &Bytes, b: &Bytes) -> bool {
    identity(a) == identity(b)
}

/// What tells shared buffers apart: where they start and how long they are.
fn identity(bytes: &Bytes) -> (*const u8, usize) {
    (bytes.as_ptr(), bytes.len())
}

#[derive(Debug)]
struct Entry {
    message: Outgoing,
    /// What the entry adds to [`MessageQueue::bytes`].
    charge: usize,
}

/// The queue, with the bytes it holds.
#[derive(Debug, Default)]
pub(crate) struct MessageQueue {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl MessageQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes the queued messages keep alive, each shared buffer counted once.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What queueing `message` would add to [`MessageQueue::bytes`].
    pub fn charge_for(&self, message: &Outgoing) -> usize {
        let shares_previous = self
            .entries
            .back()
            .is_some_and(|last| same_buffer(last.message.buffer(), message.buffer()));
        let buffer = if shares_previous {
            0
        } else {
            message.buffer().len()
        };
        buffer + message.channel_len()
    }

    pub fn push(&mut self, message: Outgoing) {
        let charge = self.charge_for(&message);
        self.bytes += charge;
        self.entries.push_back(Entry { message, charge });
    }

    /// Takes up to `max` messages from the front, as the bytes to send — and no more than
    /// [`REPLY_BYTES`] of them (but always one), since each taken message is written out whole.
    pub fn drain(&mut self, max: usize) -> Vec<Bytes> {
        let mut taken = Vec::new();
        let mut taken_bytes = 0;
        let mut released = 0;
        let mut last_buffer = None;
        while taken.len() < max {
            let Some(next) = self.entries.front() else {
                break;
            };
            let size = next.message.wire_len();
            if !taken.is_empty() && taken_bytes + size > REPLY_BYTES {
                break;
            }
            let entry = self.entries.pop_front().expect("a front entry");
            taken_bytes += size;
            released += entry.charge;
            // Its identity only: no reference count touched per message.
            last_buffer = Some(identity(entry.message.buffer()));
            taken.push(entry.message.into_bytes());
        }
        // A buffer shared across the cut is still held: its cost moves to the new front.
        if let (Some((start, len)), Some(front)) = (last_buffer, self.entries.front_mut()) {
            if identity(front.message.buffer()) == (start, len) {
                front.charge += len;
                released -= len;
            }
        }
        self.bytes -= released;
        taken
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(size: usize) -> Bytes {
        let mut text = String::from(r#"{"channel":"/topic/T","data":""#);
        text.push_str(&"x".repeat(size));
        text.push_str(r#""}"#);
        Bytes::from(text)
    }

    fn relabelled(event: &Bytes, channel: &str) -> Outgoing {
        let delivery = Delivery::OnChannel(Arc::from(channel));
        Outgoing::delivering(event, Some(delivery), ApiVersion::current())
    }

    #[test]
    fn many_filtered_deliveries_of_one_event_hold_it_once() {
        let big = event(100_000);
        let mut queue = MessageQueue::default();
        let channels: Vec<String> = (0..600).map(|i| format!("/topic/T?Name='{i}'")).collect();
        for channel in &channels {
            queue.push(relabelled(&big, channel));
        }
        let channel_bytes: usize = channels.iter().map(String::len).sum();
        assert_eq!(queue.bytes(), big.len() + channel_bytes);
        assert_eq!(queue.len(), 600);

        // Every delivery goes out on its own channel, with the event's data.
        let mut sent = Vec::new();
        while !queue.is_empty() {
            sent.extend(queue.drain(usize::MAX));
        }
        for (bytes, channel) in sent.iter().zip(&channels) {
            let message: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(message["channel"], channel.as_str());
            assert_eq!(message["data"].as_str().unwrap().len(), 100_000);
        }
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn a_partial_drain_keeps_counting_a_buffer_still_queued() {
        let (a, b) = (event(1_000), event(2_000));
        let mut queue = MessageQueue::default();
        queue.push(relabelled(&a, "/topic/T?x=1"));
        queue.push(relabelled(&a, "/topic/T?x=2"));
        queue.push(relabelled(&a, "/topic/T?x=3"));
        queue.push(Outgoing::Encoded(b.clone()));
        let full = queue.bytes();
        assert_eq!(full, a.len() + 3 * 12 + b.len());

        assert_eq!(queue.drain(1).len(), 1);
        assert_eq!(queue.bytes(), full - 12, "`a` is still held by two entries");
        assert_eq!(queue.drain(2).len(), 2);
        assert_eq!(queue.bytes(), b.len());
        assert_eq!(queue.drain(9).len(), 1);
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn a_reply_takes_about_a_mebibyte_of_messages_but_always_one() {
        let big = event(300_000);
        let mut queue = MessageQueue::default();
        for i in 0..10 {
            queue.push(relabelled(&big, &format!("/topic/T?x={i}")));
        }
        assert_eq!(queue.drain(1_000).len(), 3, "three of 300 KB fit in 1 MiB");
        let huge = event(2 * REPLY_BYTES);
        let mut queue = MessageQueue::default();
        queue.push(huge.clone().into());
        queue.push(huge.into());
        assert_eq!(queue.drain(1_000).len(), 1);
        assert_eq!(queue.drain(1_000).len(), 1);
        assert!(queue.is_empty());
    }

    #[test]
    fn older_api_versions_get_their_created_date_form() {
        let event = Bytes::from_static(
            br#"{"channel":"/topic/T","data":{"event":{"createdDate":"2016-03-29T16:40:08.208Z","replayId":1,"type":"created"},"sobject":{}}}"#,
        );
        let mut queue = MessageQueue::default();
        queue.push(Outgoing::delivering(
            &event,
            None,
            ApiVersion::new(24.0, false),
        ));
        queue.push(Outgoing::delivering(
            &event,
            None,
            ApiVersion::new(37.0, false),
        ));
        let sent = queue.drain(10);
        let date = |bytes: &Bytes| {
            let message: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            message["data"]["event"]["createdDate"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(date(&sent[0]), "2016-03-29T16:40:08.208+0000");
        assert_eq!(date(&sent[1]), "2016-03-29T16:40:08.208Z");
        assert!(matches!(
            Outgoing::delivering(&event, None, ApiVersion::current()),
            Outgoing::Encoded(_)
        ));
    }

    #[test]
    fn separate_events_are_each_counted() {
        let (a, b) = (event(10), event(10));
        let mut queue = MessageQueue::default();
        queue.push(a.clone().into());
        queue.push(b.clone().into());
        queue.push(a.clone().into());
        assert_eq!(queue.bytes(), 3 * a.len());
        queue.clear();
        assert_eq!((queue.len(), queue.bytes()), (0, 0));
    }
}
