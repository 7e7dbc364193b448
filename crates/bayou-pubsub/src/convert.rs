//! From the log to the Pub/Sub API: a stored event is kept once, in its CometD shape; its Avro
//! datum is made once per event, when the first subscriber needs it, and shared (as `Bytes`)
//! by every response that carries it.

use std::collections::{HashMap, VecDeque};
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

/// How many converted events the cache keeps: a few seconds of a busy org, so subscribers
/// that follow the tail together convert each event once.
const CACHE_EVENTS: usize = 8_192;

/// An event's CometD message: the Pub/Sub API needs its data.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Converted events by replay id, oldest evicted first.
#[derive(Default)]
pub struct AvroCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    events: HashMap<u64, Arc<ConsumerEvent>>,
    order: VecDeque<u64>,
}

impl AvroCache {
    /// The Pub/Sub form of `stored`, converting it if no subscriber has yet.
    pub async fn consumer_event(
        &self,
        org: &Org,
        stored: &StoredEvent,
    ) -> Result<Arc<ConsumerEvent>, String> {
        if let Some(hit) = self.inner.lock().events.get(&stored.replay_id) {
            return Ok(Arc::clone(hit));
        }
        let converted = Arc::new(convert(org, stored).await?);
        let mut inner = self.inner.lock();
        if inner
            .events
            .insert(stored.replay_id, Arc::clone(&converted))
            .is_none()
        {
            inner.order.push_back(stored.replay_id);
        }
        while inner.order.len() > CACHE_EVENTS {
            if let Some(old) = inner.order.pop_front() {
                inner.events.remove(&old);
            }
        }
        Ok(converted)
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
