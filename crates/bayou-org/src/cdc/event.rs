//! Building a change event: the `ChangeEventHeader` and the body, by Salesforce's rules for
//! CometD clients (reference §4.4):
//!
//! - CREATE and UNDELETE carry every non-empty field, system fields included;
//! - UPDATE carries the changed fields (nulls only when set to null), `LastModifiedDate`, and
//!   `LastModifiedById` when another user than the last one made the change;
//! - DELETE carries no fields;
//! - `Id` (it is in `recordIds`), `IsDeleted` and `SystemModstamp` never appear;
//! - `changedFields` lists the changed fields of an UPDATE and is empty otherwise; there is no
//!   `nulledFields`/`diffFields` (Pub/Sub only).

use bayou_protocol::events::PushTopicEventType;
use serde_json::{json, Map, Value};

use crate::records::Fields;
use crate::transaction::Transaction;

const NEVER_SENT: &[&str] = &["Id", "IsDeleted", "SystemModstamp"];

/// `changeType` for a kind of change.
fn change_type(kind: PushTopicEventType) -> &'static str {
    match kind {
        PushTopicEventType::Created => "CREATE",
        PushTopicEventType::Updated => "UPDATE",
        PushTopicEventType::Deleted => "DELETE",
        PushTopicEventType::Undeleted => "UNDELETE",
    }
}

/// One record change, as Change Data Capture sees it.
pub struct CapturedChange<'a> {
    pub object: &'a str,
    pub id: &'a str,
    pub kind: PushTopicEventType,
    /// The record after the change.
    pub fields: &'a Fields,
    /// Fields whose value changed (an update).
    pub changed: &'a [String],
    /// Whether an update was made by another user than the record's last modifier.
    pub modifier_changed: bool,
    pub commit_number: u64,
    pub commit_ms: i64,
}

/// The event's `payload`: the header first, then the body.
pub fn payload(change: &CapturedChange<'_>, txn: &Transaction) -> Map<String, Value> {
    let mut changed_fields: Vec<&str> = Vec::new();
    if change.kind == PushTopicEventType::Updated {
        changed_fields.extend(change.changed.iter().map(String::as_str));
        if !changed_fields.contains(&"LastModifiedDate") {
            changed_fields.push("LastModifiedDate");
        }
        if change.modifier_changed && !changed_fields.contains(&"LastModifiedById") {
            changed_fields.push("LastModifiedById");
        }
    }
    let header = json!({
        "entityName": change.object,
        "recordIds": [change.id],
        "changeType": change_type(change.kind),
        "changedFields": changed_fields,
        "changeOrigin": txn.origin,
        "transactionKey": txn.key,
        "sequenceNumber": txn.next_sequence(),
        "commitTimestamp": change.commit_ms,
        "commitNumber": change.commit_number,
        "commitUser": txn.user_id,
    });
    let mut payload = Map::new();
    payload.insert("ChangeEventHeader".into(), header);
    let sent = |name: &str| !NEVER_SENT.iter().any(|n| n.eq_ignore_ascii_case(name));
    match change.kind {
        PushTopicEventType::Created | PushTopicEventType::Undeleted => {
            for (name, value) in change.fields {
                if sent(name) && !value.is_null() {
                    payload.insert(name.clone(), value.clone());
                }
            }
        }
        PushTopicEventType::Updated => {
            for name in &changed_fields {
                if let Some(value) = change.fields.get(*name).filter(|_| sent(name)) {
                    payload.insert((*name).to_owned(), value.clone());
                }
            }
        }
        PushTopicEventType::Deleted => {}
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Fields {
        json!({
            "Id": "001xx000003DGb2AAG", "Name": "Acme", "Industry": null, "Phone": "555",
            "CreatedDate": "2026-01-01T00:00:00.000Z", "CreatedById": "005xx",
            "LastModifiedDate": "2026-01-02T00:00:00.000Z", "LastModifiedById": "005xx",
            "SystemModstamp": "2026-01-02T00:00:00.000Z", "IsDeleted": false
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn change<'a>(
        kind: PushTopicEventType,
        fields: &'a Fields,
        changed: &'a [String],
    ) -> CapturedChange<'a> {
        CapturedChange {
            object: "Account",
            id: "001xx000003DGb2AAG",
            kind,
            fields,
            changed,
            modifier_changed: false,
            commit_number: 77,
            commit_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn create_carries_every_non_empty_field_but_id_and_system_stamps() {
        let fields = record();
        let txn = Transaction::new("005xx", "66.0");
        let p = payload(&change(PushTopicEventType::Created, &fields, &[]), &txn);
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ChangeEventHeader",
                "Name",
                "Phone",
                "CreatedDate",
                "CreatedById",
                "LastModifiedDate",
                "LastModifiedById"
            ]
        );
        let header = &p["ChangeEventHeader"];
        assert_eq!(header["changeType"], "CREATE");
        assert_eq!(header["changedFields"], json!([]));
        assert_eq!(header["recordIds"], json!(["001xx000003DGb2AAG"]));
        assert_eq!(header["sequenceNumber"], 1);
        assert_eq!(header["commitUser"], "005xx");
        assert_eq!(header["transactionKey"], txn.key.as_str());
    }

    #[test]
    fn update_carries_changed_fields_and_last_modified_date() {
        let fields = record();
        let txn = Transaction::new("005xx", "66.0");
        let changed = ["Industry".to_owned()];
        let p = payload(
            &change(PushTopicEventType::Updated, &fields, &changed),
            &txn,
        );
        assert_eq!(
            p["ChangeEventHeader"]["changedFields"],
            json!(["Industry", "LastModifiedDate"])
        );
        assert_eq!(p["Industry"], Value::Null); // set to null: sent as null
        assert!(p.contains_key("LastModifiedDate"));
        assert!(!p.contains_key("Name"));
    }

    #[test]
    fn an_update_by_another_user_reports_last_modified_by_id() {
        let fields = record();
        let txn = Transaction::new("005yy", "66.0");
        let changed = ["Phone".to_owned()];
        let mut update = change(PushTopicEventType::Updated, &fields, &changed);
        update.modifier_changed = true;
        let p = payload(&update, &txn);
        assert_eq!(
            p["ChangeEventHeader"]["changedFields"],
            json!(["Phone", "LastModifiedDate", "LastModifiedById"])
        );
        assert!(p.contains_key("LastModifiedById"));
    }

    #[test]
    fn delete_carries_only_the_header_and_sequence_numbers_grow() {
        let fields = record();
        let txn = Transaction::new("005xx", "66.0");
        let first = payload(&change(PushTopicEventType::Created, &fields, &[]), &txn);
        let second = payload(&change(PushTopicEventType::Deleted, &fields, &[]), &txn);
        assert_eq!(second.len(), 1);
        assert_eq!(second["ChangeEventHeader"]["changeType"], "DELETE");
        assert_eq!(second["ChangeEventHeader"]["sequenceNumber"], 2);
        assert_eq!(
            first["ChangeEventHeader"]["transactionKey"],
            second["ChangeEventHeader"]["transactionKey"]
        );
    }
}
