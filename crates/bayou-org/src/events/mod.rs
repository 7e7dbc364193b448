//! Platform events: `Name__e` types with typed fields, published over REST (`sobjects/Name__e`,
//! or the composite resource) and delivered on `/event/Name__e` as
//! `{"schema","payload":{"CreatedDate","CreatedById",…fields},"event":{"EventUuid","replayId"}}`.
//!
//! Event types come from the configuration file (`[[platform_events]]`) or the admin API, and
//! are kept in the record store so they survive restarts. Unknown fields and values of the
//! wrong type are refused with Salesforce's errors; the reply carries the event's UUID in an
//! `OPERATION_ENQUEUED` entry, as Salesforce's does.

pub mod avro;
mod datum;
pub mod publish;
pub mod raw_json;
pub mod schemas;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::schema::FieldKind;
use crate::records::Fields;
use crate::rest::errors::RestError;

/// A platform event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventType {
    /// `Name__e`.
    pub name: String,
    /// Field name → `text`, `number` or `boolean`.
    pub fields: BTreeMap<String, String>,
}

impl EventType {
    /// Checks the name and field types.
    pub fn validate(&self) -> Result<(), String> {
        let base = self.name.strip_suffix("__e").unwrap_or_default();
        if base.is_empty() || !base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "platform event name {:?} must look like Name__e",
                self.name
            ));
        }
        for (field, kind) in &self.fields {
            if !crate::records::objects::valid_field_name(field) {
                return Err(format!("invalid field name {field:?}"));
            }
            if kind_of(kind).is_none() {
                return Err(format!(
                    "field {field}: type {kind:?} is not text, number or boolean"
                ));
            }
        }
        Ok(())
    }

    /// The schema id: the fingerprint of the type's Avro schema, so it changes when the fields
    /// change, like Salesforce's (see [`avro`]).
    pub fn schema_id(&self) -> String {
        avro::EventSchema::of(self)
            .map(|schema| schema.id)
            .unwrap_or_default()
    }

    /// Validates a publish's fields against the type.
    pub fn check(&self, fields: &Fields) -> Result<(), RestError> {
        for (name, value) in fields {
            if name.eq_ignore_ascii_case("Id") {
                return Err(RestError::bad_request(
                    "INVALID_FIELD",
                    "The Id field should not be specified in the sobject data.",
                ));
            }
            let Some((declared, kind)) = self
                .fields
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(name))
            else {
                return Err(RestError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", self.name),
                )
                .on_fields(&[name]));
            };
            let expected = kind_of(kind);
            let actual = FieldKind::of(value);
            let fits = matches!(value, Value::Null)
                || actual == expected
                || (expected == Some(FieldKind::Text) && actual == Some(FieldKind::Number));
            if !fits {
                return Err(RestError::bad_request(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{declared}: value not of required type: {value}"),
                )
                .on_fields(&[declared]));
            }
        }
        Ok(())
    }
}

pub(crate) fn kind_of(name: &str) -> Option<FieldKind> {
    match name.to_ascii_lowercase().as_str() {
        "text" | "string" | "textarea" | "date" | "datetime" => Some(FieldKind::Text),
        "number" | "double" | "int" | "integer" => Some(FieldKind::Number),
        "boolean" | "checkbox" => Some(FieldKind::Boolean),
        _ => None,
    }
}

/// A random version-4 UUID, as `EventUuid`.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn low_ink() -> EventType {
        EventType {
            name: "Low_Ink__e".into(),
            fields: BTreeMap::from([
                ("Printer_Model__c".into(), "text".into()),
                ("Ink_Percentage__c".into(), "number".into()),
            ]),
        }
    }

    #[test]
    fn validates_publishes() {
        let t = low_ink();
        assert!(t.validate().is_ok());
        let ok = json!({"Printer_Model__c": "XZO-5", "ink_percentage__c": 0.2});
        assert!(t.check(ok.as_object().unwrap()).is_ok());
        let unknown = json!({"Color__c": "red"});
        assert_eq!(
            t.check(unknown.as_object().unwrap()).unwrap_err().code,
            "INVALID_FIELD"
        );
        let wrong = json!({"Ink_Percentage__c": "low"});
        assert_eq!(
            t.check(wrong.as_object().unwrap()).unwrap_err().code,
            "INVALID_TYPE_ON_FIELD_IN_RECORD"
        );
        assert_eq!(t.schema_id().len(), 22);
        assert_eq!(t.schema_id(), low_ink().schema_id());
    }

    #[test]
    fn uuids_look_like_uuids() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid());
    }
}
