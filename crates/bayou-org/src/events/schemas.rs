//! The org's platform event schemas: the current one of each event type, and every earlier one
//! by id (stored, so an event published before its type changed still reads with the schema it
//! was written with, on any node and after a restart).

use std::sync::Arc;

use super::avro::{EventSchema, StoredSchema, STORE_PREFIX};
use crate::Org;

impl Org {
    /// The schema events of type `event` are published with now.
    pub fn current_event_schema(&self, event: &str) -> Option<Arc<EventSchema>> {
        self.event_schemas.current(event)
    }

    /// The schema with id `id`, current or earlier.
    pub async fn event_schema(&self, id: &str) -> Option<Arc<EventSchema>> {
        if let Some(schema) = self.event_schemas.get(id) {
            return Some(schema);
        }
        let key = format!("{STORE_PREFIX}{id}");
        let stored = self.store.record(key.as_bytes()).await.ok()??;
        let stored: StoredSchema = serde_json::from_slice(&stored).ok()?;
        let schema = Arc::new(EventSchema::from_stored(&stored.event, &stored.schema).ok()?);
        if schema.id != id {
            return None;
        }
        self.event_schemas.remember(Arc::clone(&schema));
        Some(schema)
    }

    /// Computes the schemas of the event types defined now, makes them current, and stores
    /// those not stored yet.
    pub(crate) async fn remember_current_schemas(&self) -> Result<(), String> {
        let types: Vec<_> = self.event_types.read().values().cloned().collect();
        let mut schemas = Vec::with_capacity(types.len());
        for event_type in &types {
            let schema = Arc::new(EventSchema::of(event_type).map_err(|e| e.to_string())?);
            let (key, value) = stored_form(&schema)?;
            self.store
                .insert_if_absent(&key, value)
                .await
                .map_err(|e| e.to_string())?;
            schemas.push(schema);
        }
        self.event_schemas.set_current(schemas);
        Ok(())
    }
}

/// The record that keeps `schema`.
pub(crate) fn stored_form(schema: &EventSchema) -> Result<(Vec<u8>, Vec<u8>), String> {
    let value = serde_json::to_vec(&StoredSchema {
        event: schema.event.clone(),
        schema: schema.json.clone(),
    })
    .map_err(|e| e.to_string())?;
    Ok((format!("{STORE_PREFIX}{}", schema.id).into_bytes(), value))
}
