//! Defining platform event types and publishing events.

use bayou_log::{NewEvent, RecordWrite};
use bayou_protocol::events::encode_platform_event;
use bayou_protocol::time::{iso8601_millis, now_millis};
use serde_json::{Map, Value};

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

    /// Defines (or redefines) a platform event type and stores it.
    pub async fn define_event(&self, event_type: EventType) -> Result<(), String> {
        event_type.validate()?;
        let value = serde_json::to_vec(&event_type).map_err(|e| e.to_string())?;
        let key = format!("{STORE_PREFIX}{}", event_type.name).into_bytes();
        self.store
            .append_with_records(
                Vec::new(),
                vec![RecordWrite {
                    key,
                    value: Some(value),
                }],
            )
            .await
            .map_err(|e| e.to_string())?;
        self.event_types
            .write()
            .insert(event_type.name.to_ascii_lowercase(), event_type);
        Ok(())
    }

    /// Publishes one platform event; returns once it is durable.
    pub async fn publish_event(
        &self,
        name: &str,
        fields: Fields,
        user_id: &str,
    ) -> Result<Published, RestError> {
        let event_type = self.event_type(name).ok_or_else(RestError::not_found)?;
        event_type.check(&fields)?;
        let mut payload = Map::new();
        payload.insert(
            "CreatedDate".into(),
            Value::String(iso8601_millis(now_millis())),
        );
        payload.insert("CreatedById".into(), Value::String(user_id.to_owned()));
        for (name, value) in fields {
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
        let uuid = new_uuid();
        let schema = event_type.schema_id();
        let channel = format!("/event/{}", event_type.name);
        let event_uuid = uuid.clone();
        let event = NewEvent {
            channel: channel.clone(),
            encode: Box::new(move |replay_id, _| {
                encode_platform_event(&channel, &schema, &payload, &event_uuid, replay_id)
            }),
            audience: None,
        };
        let ids = self
            .store
            .append_with_records(vec![event], Vec::new())
            .await
            .map_err(|e| RestError::storage("the event", &e))?;
        Ok(Published {
            id: new_id("e00"),
            uuid,
            replay_id: ids.first().copied().unwrap_or_default(),
        })
    }
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
