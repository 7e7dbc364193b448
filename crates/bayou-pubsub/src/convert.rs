//! From the log to the Pub/Sub API: a stored event is kept once, in its CometD shape; its Avro
//! datum is made once per event, when the first subscriber needs it, and shared (as `Bytes`)
//! by every response that carries it.
//!
//! Sharing needs two streams: a node with one stream converts without the cache. Keeping an
//! event for nobody costs more than it saves — dropping it 1,024 events later, long out of the
//! CPU's caches, took a third as much as converting it (docs/benchmarks.md).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bayou_log::StoredEvent;
use bayou_org::events::raw_json::RawObject;
use bayou_org::Org;
use bytes::Bytes;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::proto::{ConsumerEvent, ProducerEvent};
use crate::replay_id;

/// How many converted events the cache keeps: subscribers that follow the tail together (a
/// fan-out paces its streams by 10 ms) convert each event once. Small, so that what it holds
/// and evicts is still in the CPU's caches: with 8,192 events, evicting (a hash-table removal
/// and dropping a long-cold event) cost a third as much as converting.
const CACHE_EVENTS: usize = 1_024;

/// An event's CometD message: the Pub/Sub API needs its data.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Converted events by replay id, oldest evicted first.
#[derive(Default)]
pub struct AvroCache {
    /// Sorted by replay id: subscribers read the log forwards, so an event is almost always
    /// added at the back, found by binary search, and evicted from the front.
    events: Mutex<VecDeque<(u64, Arc<ConsumerEvent>)>>,
    /// Streams that read through the cache now.
    readers: Arc<AtomicUsize>,
}

/// A stream reading through the cache, counted while it lives.
pub struct Reader {
    readers: Arc<AtomicUsize>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.readers.fetch_sub(1, Relaxed);
    }
}

impl AvroCache {
    /// Counts a stream as a reader until the returned guard is dropped.
    pub fn reader(&self) -> Reader {
        self.readers.fetch_add(1, Relaxed);
        Reader {
            readers: Arc::clone(&self.readers),
        }
    }

    /// The Pub/Sub form of `stored`, converting it if no subscriber has yet. With one reader,
    /// nothing is kept: the result is then the only reference, and its owner may take it.
    pub async fn consumer_event(
        &self,
        org: &Org,
        stored: &StoredEvent,
    ) -> Result<Arc<ConsumerEvent>, String> {
        if self.readers.load(Relaxed) <= 1 {
            return Ok(Arc::new(convert(org, stored).await?));
        }
        if let Some(hit) = self.get(stored.replay_id) {
            return Ok(hit);
        }
        let converted = Arc::new(convert(org, stored).await?);
        let evicted = self.insert(stored.replay_id, Arc::clone(&converted));
        // Dropped after the lock is released.
        drop(evicted);
        Ok(converted)
    }

    fn get(&self, replay_id: u64) -> Option<Arc<ConsumerEvent>> {
        let events = self.events.lock();
        let at = events
            .binary_search_by_key(&replay_id, |(id, _)| *id)
            .ok()?;
        Some(Arc::clone(&events[at].1))
    }

    /// Adds an event (unless another subscriber just did); returns what fell out.
    fn insert(&self, replay_id: u64, event: Arc<ConsumerEvent>) -> Option<Arc<ConsumerEvent>> {
        let mut events = self.events.lock();
        match events.back() {
            Some((newest, _)) if *newest >= replay_id => {
                if let Err(at) = events.binary_search_by_key(&replay_id, |(id, _)| *id) {
                    events.insert(at, (replay_id, event));
                }
            }
            _ => events.push_back((replay_id, event)),
        }
        if events.len() > CACHE_EVENTS {
            return events.pop_front().map(|(_, event)| event);
        }
        None
    }
}

/// A platform event as the org stores it (`{"schema", "payload", "event": {"EventUuid"}}`) is
/// encoded with the schema it names. An event a Bayeux client published on `/event/…` (when a
/// publish rule allows it) has no schema: its data's fields are encoded with the event type's
/// current schema, those the schema lacks left out. The message is read in place
/// ([`RawObject`]): only the members the datum needs are looked at.
async fn convert(org: &Org, stored: &StoredEvent) -> Result<ConsumerEvent, String> {
    let unreadable =
        |why: String| format!("event {} on {}: {why}", stored.replay_id, stored.channel);
    let json = std::str::from_utf8(&stored.bytes).map_err(|e| unreadable(e.to_string()))?;
    let message: Message<'_> = serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
    let data = RawObject::parse(message.data.get()).map_err(|e| unreadable(e.to_string()))?;
    let schema = match data.text("schema") {
        Some(id) => org.event_schema(&id).await,
        None => stored
            .channel
            .strip_prefix("/event/")
            .and_then(|event| org.current_event_schema(event)),
    }
    .ok_or_else(|| unreadable("no schema describes it".into()))?;
    let uuid = data
        .get("event")
        .and_then(|event| RawObject::parse(event.get()).ok())
        .and_then(|event| event.text("EventUuid").map(String::from))
        .unwrap_or_default();
    let payload = match data.get("payload") {
        Some(payload) if payload.get().starts_with('{') => {
            RawObject::parse(payload.get()).map_err(|e| unreadable(e.to_string()))?
        }
        _ => data,
    };
    let datum = schema
        .encode_raw(&payload)
        .map_err(|e| unreadable(e.to_string()))?;
    Ok(ConsumerEvent {
        event: Some(ProducerEvent {
            id: uuid,
            schema_id: schema.id.clone(),
            payload: Bytes::from(datum),
            headers: Vec::new(),
        }),
        replay_id: replay_id::encode(stored.replay_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(replay_id: u64) -> Arc<ConsumerEvent> {
        Arc::new(ConsumerEvent {
            event: None,
            replay_id: replay_id::encode(replay_id),
        })
    }

    fn ids(cache: &AvroCache) -> Vec<u64> {
        cache.events.lock().iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn keeps_the_newest_events_in_order_and_finds_them() {
        let cache = AvroCache::default();
        for id in (1..=CACHE_EVENTS as u64).map(|i| i * 3) {
            assert!(cache.insert(id, event(id)).is_none());
        }
        assert_eq!(cache.get(3).unwrap().replay_id, replay_id::encode(3));
        assert!(cache.get(4).is_none(), "never added");
        // One more: the oldest falls out.
        let evicted = cache.insert(1_000_000, event(1_000_000)).unwrap();
        assert_eq!(evicted.replay_id, replay_id::encode(3));
        assert!(cache.get(3).is_none());
        assert!(cache.get(1_000_000).is_some());
        // A lagging subscriber's older event goes in its place, and the oldest falls out; one
        // already there is not added twice.
        let evicted = cache.insert(7, event(7)).unwrap();
        assert_eq!(evicted.replay_id, replay_id::encode(6));
        assert!(cache.insert(9, event(9)).is_none());
        let kept = ids(&cache);
        assert_eq!(&kept[..3], &[7, 9, 12]);
        assert_eq!(kept.last(), Some(&1_000_000));
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(kept.len(), CACHE_EVENTS);
    }
}
