//! Defining platform event types and publishing events.

use bayou_log::{NewEvent, RecordWrite};
use bayou_protocol::events::encode_platform_event;
use bayou_protocol::time::{iso8601_millis, now_millis};
use serde_json::{Map, Value};

use std::sync::Arc;

use super::avro::EventSchema;
use super::schemas::stored_form;
use super::{new_uuid, EventType};
use crate::ids::new_id;
use crate::records::Fields;
use crate::rest::errors::RestError;
use crate::Org;

/// Key prefix of stored event types.
pub(crate) const STORE_PREFIX: &str = "EventType/";

/// What a publish returns: the event's id and `EventUuid`.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: String,
    pub uuid: String,
    pub replay_id: u64,
}

impl Org {
    /// The event type named `name` (case-insensitive).
    pub fn event_type(&self, name: &str) -> Option<EventType> {
        self.event_types
            .read()
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Defines (or redefines) a platform event type and stores it, with its Avro schema.
    pub async fn define_event(&self, event_type: EventType) -> Result<(), String> {
        event_type.validate()?;
        let schema = Arc::new(EventSchema::of(&event_type).map_err(|e| e.to_string())?);
        let value = serde_json::to_vec(&event_type).map_err(|e| e.to_string())?;
        let key = format!("{STORE_PREFIX}{}", event_type.name).into_bytes();
        let (schema_key, schema_value) = stored_form(&schema)?;
        self.store
            .append_with_records(
                Vec::new(),
                vec![
                    RecordWrite {
                        key,
                        value: Some(value),
                        expected_version: None,
                    },
                    RecordWrite {
                        key: schema_key,
                        value: Some(schema_value),
                        expected_version: None,
                    },
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        self.event_types
            .write()
            .insert(event_type.name.to_ascii_lowercase(), event_type);
        self.remember_current_schemas().await
    }

    /// Publishes one platform event; returns once it is durable.
    pub async fn publish_event(
        &self,
        name: &str,
        fields: Fields,
        user_id: &str,
    ) -> Result<Published, RestError> {
        let event = NewPlatformEvent { uuid: None, fields };
        let mut outcomes = self.publish_events(name, vec![event], user_id).await?;
        outcomes
            .pop()
            .unwrap_or_else(|| Err(RestError::internal("no outcome for the event")))
    }

    /// Publishes platform events of type `name` together: each is checked on its own (its
    /// outcome says why it was refused), and those that pass are appended in one write, in
    /// order. Fails as a whole only when the type is unknown or the log cannot take writes.
    pub async fn publish_events(
        &self,
        name: &str,
        events: Vec<NewPlatformEvent>,
        user_id: &str,
    ) -> Result<Vec<Result<Published, RestError>>, RestError> {
        self.queue_events(name, events, user_id)
            .await?
            .outcomes()
            .await
    }

    /// [`publish_events`](Self::publish_events) in two steps: this checks the events and
    /// queues those that pass in the log (resolving once they have their place in it), and
    /// [`QueuedEvents::outcomes`] waits until they are stored. A Pub/Sub `PublishStream`
    /// queues request after request this way and answers each when its events are stored.
    pub async fn queue_events(
        &self,
        name: &str,
        events: Vec<NewPlatformEvent>,
        user_id: &str,
    ) -> Result<QueuedEvents, RestError> {
        let event_type = self.event_type(name).ok_or_else(RestError::not_found)?;
        let schema = self
            .current_event_schema(&event_type.name)
            .map(|schema| schema.id.clone())
            .unwrap_or_else(|| event_type.schema_id());
        let channel = format!("/event/{}", event_type.name);
        let created = iso8601_millis(now_millis());
        let mut outcomes = Vec::with_capacity(events.len());
        let mut appended = Vec::new();
        for event in events {
            if let Err(e) = event_type.check(&event.fields) {
                outcomes.push(Err(e));
                continue;
            }
            let mut payload = Map::new();
            payload.insert("CreatedDate".into(), Value::String(created.clone()));
            payload.insert("CreatedById".into(), Value::String(user_id.to_owned()));
            for (name, value) in event.fields {
                let declared = event_type
                    .fields
                    .keys()
                    .find(|f| f.eq_ignore_ascii_case(&name))
                    .cloned()
                    .unwrap_or(name);
                payload.insert(declared, value);
            }
            let payload = serde_json::value::to_raw_value(&payload)
                .map_err(|e| RestError::internal(e.to_string()))?;
            let uuid = event.uuid.unwrap_or_else(new_uuid);
            let (channel, schema, event_uuid) = (channel.clone(), schema.clone(), uuid.clone());
            appended.push(NewEvent {
                channel: channel.clone(),
                encode: Box::new(move |replay_id, _| {
                    encode_platform_event(&channel, &schema, &payload, &event_uuid, replay_id)
                }),
                audience: None,
            });
            outcomes.push(Ok(Published {
                id: new_id("e00"),
                uuid,
                replay_id: 0,
            }));
        }
        let stored = if appended.is_empty() {
            None
        } else {
            let queued = self
                .store
                .queue_append(appended)
                .await
                .map_err(|e| RestError::storage("the event", &e))?;
            Some(queued)
        };
        Ok(QueuedEvents { outcomes, stored })
    }
}

/// Platform events checked and queued in the log: [`outcomes`](Self::outcomes) waits until
/// they are stored.
pub struct QueuedEvents {
    /// One per event, in order; those queued get their replay id once stored.
    outcomes: Vec<Result<Published, RestError>>,
    /// The append of the events that passed (none when none did).
    stored: Option<bayou_log::AppendFuture>,
}

impl QueuedEvents {
    /// Each event's outcome, once the events are stored. Fails as a whole when the log could
    /// not store them.
    pub async fn outcomes(self) -> Result<Vec<Result<Published, RestError>>, RestError> {
        let Self {
            mut outcomes,
            stored,
        } = self;
        let Some(stored) = stored else {
            return Ok(outcomes);
        };
        let ids = stored
            .await
            .map_err(|e| RestError::storage("the event", &e))?;
        let mut ids = ids.into_iter();
        for published in outcomes.iter_mut().flatten() {
            published.replay_id = ids.next().unwrap_or_default();
        }
        Ok(outcomes)
    }
}

/// One platform event to publish.
#[derive(Debug, Clone)]
pub struct NewPlatformEvent {
    /// Its `EventUuid`; a new one when `None`.
    pub uuid: Option<String>,
    /// Its custom fields.
    pub fields: Fields,
}

/// Event types stored by earlier runs, then those of the configuration (which win).
pub(crate) async fn load(
    store: &dyn bayou_log::RecordStore,
    configured: &[EventType],
) -> Result<Vec<EventType>, String> {
    let mut types: Vec<EventType> = store
        .records(STORE_PREFIX.as_bytes())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(_, value)| serde_json::from_slice(&value).ok())
        .collect();
    for t in configured {
        t.validate()?;
        types.retain(|existing| !existing.name.eq_ignore_ascii_case(&t.name));
        types.push(t.clone());
    }
    Ok(types)
}
