//! Change Data Capture: for the objects selected for it, every record change made through REST
//! publishes a change event on `/data/ChangeEvents` (all selected objects) and on the object's
//! own channel, `/data/AccountChangeEvent` or, for a custom object `Invoice__c`,
//! `/data/Invoice__ChangeEvent` — stored in the same atomic batch as the change itself.
//!
//! Objects are selected in the configuration (`cdc_entities`) or at run time through the admin
//! API; run-time selections are stored, so they survive a restart. The event body follows
//! Salesforce's rules for CometD clients (see `event.rs`).

pub mod avro;
pub mod event;
pub mod gap;
mod schema;

pub(crate) use schema::ChangeSchema;

use std::collections::BTreeSet;

use bayou_log::RecordWrite;

use crate::records::objects;
use crate::Org;

/// Key prefix of stored selections.
pub(crate) const STORE_PREFIX: &str = "CdcEntity/";

/// The channel carrying every selected object's change events.
pub const ALL_CHANGES: &str = "/data/ChangeEvents";

/// The change event channel of `object` (a canonical sObject name).
pub fn channel_of(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(custom) => format!("/data/{custom}__ChangeEvent"),
        None => format!("/data/{object}ChangeEvent"),
    }
}

/// The object a change event channel is for, if it names one (`/data/AccountChangeEvent` →
/// `Account`, `/data/Invoice__ChangeEvent` → `Invoice__c`).
pub fn object_of_channel(channel: &str) -> Option<String> {
    let name = channel.strip_prefix("/data/")?;
    let object = match name.strip_suffix("__ChangeEvent") {
        Some(custom) => format!("{custom}__c"),
        None => name.strip_suffix("ChangeEvent")?.to_owned(),
    };
    objects::lookup(&object).map(|(canonical, _)| canonical)
}

/// Objects selected in the configuration and stored by earlier runs.
pub(crate) async fn load(
    store: &dyn bayou_log::RecordStore,
    configured: &[String],
) -> Result<BTreeSet<String>, String> {
    let mut selected = BTreeSet::new();
    for name in configured {
        let (canonical, _) = objects::lookup(name)
            .filter(|(canonical, _)| canonical != "PushTopic")
            .ok_or_else(|| format!("cdc_entities: {name:?} is not an object of the org"))?;
        selected.insert(canonical);
    }
    for (_, name) in store
        .records(STORE_PREFIX.as_bytes())
        .await
        .map_err(|e| e.to_string())?
    {
        let name = String::from_utf8_lossy(&name).into_owned();
        if !selected.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            selected.insert(name);
        }
    }
    Ok(selected)
}

impl Org {
    /// The objects selected for Change Data Capture.
    pub fn cdc_entities(&self) -> Vec<String> {
        self.cdc.read().iter().cloned().collect()
    }

    /// Whether changes of `object` publish change events.
    pub(crate) fn captures_changes(&self, object: &str) -> bool {
        self.cdc
            .read()
            .iter()
            .any(|selected| selected.eq_ignore_ascii_case(object))
    }

    /// Selects (`enabled`) or deselects an object for Change Data Capture, and stores the
    /// choice. Returns the canonical object name.
    pub async fn select_for_cdc(&self, object: &str, enabled: bool) -> Result<String, String> {
        let (canonical, _) = objects::lookup(object)
            .filter(|(canonical, _)| canonical != "PushTopic")
            .ok_or_else(|| format!("{object:?} is not an object of the org"))?;
        // One selection at a time, so the store and the set in memory agree.
        let _writing = self.writes.lock().await;
        // Keyed by the lower-cased name (object names are case-insensitive), valued by the name.
        let write = RecordWrite {
            key: format!("{STORE_PREFIX}{}", canonical.to_ascii_lowercase()).into_bytes(),
            value: enabled.then(|| canonical.clone().into_bytes()),
            expected_version: None,
        };
        self.store
            .append_with_records(Vec::new(), vec![write])
            .await
            .map_err(|e| e.to_string())?;
        let mut selected = self.cdc.write();
        selected.retain(|s| !s.eq_ignore_ascii_case(&canonical));
        if enabled {
            selected.insert(canonical.clone());
        } else {
            selected.remove(&canonical);
        }
        Ok(canonical)
    }
}

/// The two events of one change: on `/data/ChangeEvents` and on `entity`'s own channel,
/// sharing one encoded `payload` and `schema`.
pub(crate) fn events_of(
    entity: &str,
    schema: &str,
    payload: std::sync::Arc<serde_json::value::RawValue>,
) -> Vec<bayou_log::NewEvent> {
    let schema: std::sync::Arc<str> = schema.into();
    [ALL_CHANGES.to_owned(), channel_of(entity)]
        .into_iter()
        .map(|channel| {
            let (payload, schema) = (payload.clone(), schema.clone());
            bayou_log::NewEvent::new(
                channel.clone(),
                Box::new(move |replay_id, _| {
                    bayou_protocol::events::encode_change_event(
                        &channel, &schema, &payload, replay_id,
                    )
                }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_salesforce() {
        assert_eq!(channel_of("Account"), "/data/AccountChangeEvent");
        assert_eq!(channel_of("Invoice__c"), "/data/Invoice__ChangeEvent");
        assert_eq!(
            object_of_channel("/data/AccountChangeEvent").as_deref(),
            Some("Account")
        );
        assert_eq!(
            object_of_channel("/data/Invoice__ChangeEvent").as_deref(),
            Some("Invoice__c")
        );
        assert_eq!(object_of_channel("/data/ChangeEvents"), None);
        assert_eq!(object_of_channel("/data/NopeChangeEvent"), None);
        assert_eq!(object_of_channel("/topic/AccountChangeEvent"), None);
    }
}
