//! Gap and overflow events, on demand (fault injection): what Salesforce sends a Change Data
//! Capture subscriber when it cannot send a change itself — an event over 1 MB, some field type
//! conversions, internal errors (`GAP_CREATE`, `GAP_UPDATE`, `GAP_DELETE`, `GAP_UNDELETE`), or a
//! transaction past 100,000 changes (`GAP_OVERFLOW`, one per entity, `recordIds` `["000000000000000AAA"]`).
//! A gap event carries its `ChangeEventHeader` only; the subscriber is expected to read the
//! records again. Clients rarely meet these on a real org, so their handling goes untested;
//! here they can be sent at will.

use bayou_protocol::time::now_millis;
use serde_json::{json, Map, Value};

use crate::Org;

/// The change types of gap and overflow events.
pub const GAP_TYPES: &[&str] = &[
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
];

/// The record id Salesforce puts in an overflow event.
pub const OVERFLOW_RECORD_ID: &str = "000000000000000AAA";

impl Org {
    /// Publishes a `change_type` gap event for `entity` (selected for Change Data Capture) and
    /// `record_ids` (ignored for `GAP_OVERFLOW`) on `/data/ChangeEvents` and the entity's
    /// channel. Returns the replay ids.
    pub async fn publish_cdc_gap(
        &self,
        entity: &str,
        change_type: &str,
        record_ids: Vec<String>,
    ) -> Result<Vec<u64>, String> {
        let change_type = change_type.to_ascii_uppercase();
        if !GAP_TYPES.contains(&change_type.as_str()) {
            return Err(format!(
                "changeType must be one of {}",
                GAP_TYPES.join(", ")
            ));
        }
        let Some(entity) = self
            .cdc_entities()
            .into_iter()
            .find(|e| e.eq_ignore_ascii_case(entity))
        else {
            return Err(format!(
                "{entity:?} is not selected for Change Data Capture"
            ));
        };
        let record_ids = if change_type == "GAP_OVERFLOW" {
            vec![OVERFLOW_RECORD_ID.to_owned()]
        } else if record_ids.is_empty() {
            return Err("give the \"recordIds\" the gap is about".into());
        } else {
            record_ids
        };
        let commit_user = self
            .identity()
            .users
            .first()
            .map(|u| u.id.clone())
            .unwrap_or_default();
        let header = json!({
            "entityName": entity,
            "recordIds": record_ids,
            "changeType": change_type,
            "changedFields": [],
            "changeOrigin": "",
            "transactionKey": crate::events::new_uuid(),
            "sequenceNumber": 1,
            "commitTimestamp": now_millis(),
            "commitNumber": self.next_commit_number(),
            "commitUser": commit_user,
        });
        let payload = Map::from_iter([("ChangeEventHeader".to_owned(), header)]);
        let payload: std::sync::Arc<serde_json::value::RawValue> =
            serde_json::value::to_raw_value(&Value::Object(payload))
                .map_err(|e| e.to_string())?
                .into();
        let schema = self
            .change_schema(&entity, None)
            .map_err(|e| e.message.clone())?;
        let events = super::events_of(&entity, &schema.schema.id, payload);
        let ids = self
            .store
            .append_with_records(events, schema.write.clone().into_iter().collect())
            .await
            .map_err(|e| format!("the gap event could not be stored: {e}"))?;
        self.event_schemas.remember(schema.schema);
        Ok(ids)
    }
}
