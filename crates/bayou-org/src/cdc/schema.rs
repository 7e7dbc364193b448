//! Change event schemas as changes are written: the schema of an object follows the fields its
//! records have had, so a change that brings a new field gets a new schema, stored in the same
//! batch as the change's events (see `avro.rs` for its shape).

use std::sync::Arc;

use bayou_log::RecordWrite;

use crate::events::avro::EventSchema;
use crate::events::schemas::stored_form;
use crate::records::schema::FieldKind;
use crate::records::Fields;
use crate::rest::errors::RestError;
use crate::Org;

/// The change event schema of a change, and the record that stores it when this node has not
/// stored it yet (written in the same batch as the change's events).
pub(crate) struct ChangeSchema {
    pub schema: Arc<EventSchema>,
    pub write: Option<RecordWrite>,
}

impl Org {
    /// The change event schema of `object` with the fields known now and those `extra` brings
    /// (a record's first value for a new field): it changes when the object gains fields.
    pub(crate) fn change_schema(
        &self,
        object: &str,
        extra: Option<&Fields>,
    ) -> Result<ChangeSchema, RestError> {
        let mut fields = self.schema.read().fields(object);
        for (name, value) in extra.into_iter().flatten() {
            let known = fields.iter().any(|(f, _)| f.eq_ignore_ascii_case(name));
            if let (false, Some(kind)) = (known, FieldKind::of(value)) {
                fields.push((name.clone(), kind));
            }
        }
        fields.sort();
        let schema = self
            .event_schemas
            .change_schema(object, &fields)
            .map_err(|e| RestError::internal(e.to_string()))?;
        let write = if self.event_schemas.get(&schema.id).is_some() {
            None
        } else {
            let (key, value) = stored_form(&schema).map_err(RestError::internal)?;
            Some(RecordWrite {
                key,
                value: Some(value),
                expected_version: None,
            })
        };
        Ok(ChangeSchema { schema, write })
    }

    /// The change event schema `object`'s next change would have, stored so that `GetSchema`
    /// finds it (a client reads a topic's schema before any change happened).
    pub async fn current_change_schema(&self, object: &str) -> Result<Arc<EventSchema>, String> {
        let schema = self.change_schema(object, None).map_err(|e| e.message)?;
        if let Some(RecordWrite {
            key,
            value: Some(value),
            ..
        }) = schema.write
        {
            self.store
                .insert_if_absent(&key, value)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.event_schemas.remember(Arc::clone(&schema.schema));
        Ok(schema.schema)
    }
}
