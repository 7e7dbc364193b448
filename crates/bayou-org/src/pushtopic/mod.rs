//! PushTopics: SOQL queries whose matching record changes become events on `/topic/<Name>`.
//!
//! A PushTopic is an ordinary record (`sobjects/PushTopic`); creating or editing one validates
//! it here, and the org keeps the active ones in memory. On every record change,
//! [`PushTopic::notification`] (`evaluate.rs`) applies Salesforce's rules: the operation must be one the topic
//! notifies for, the new values must match the WHERE clause, and for an update the changed
//! fields must satisfy `NotifyForFields` (All: any field; Referenced, the default: a SELECT or
//! WHERE field; Select: a SELECT field; Where: a WHERE field).

pub mod delivery_filter;
mod evaluate;

use bayou_protocol::events::PushTopicEventType;
use bayou_soql::Query;
use serde_json::Value;

use crate::records::{field, objects, Fields};
use crate::rest::errors::RestError;

/// Which changed fields make an update notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyForFields {
    All,
    Referenced,
    Select,
    Where,
}

/// An active or inactive PushTopic, parsed.
#[derive(Debug, Clone)]
pub struct PushTopic {
    pub id: String,
    pub name: String,
    /// The queried object's canonical name.
    pub object: String,
    pub query: Query,
    pub notify_create: bool,
    pub notify_update: bool,
    pub notify_delete: bool,
    pub notify_undelete: bool,
    pub notify_for_fields: NotifyForFields,
    pub active: bool,
}

/// A record change, as PushTopics see it.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub kind: PushTopicEventType,
    pub object: &'a str,
    pub id: &'a str,
    /// The record's values after the change (for a delete, its last values).
    pub fields: &'a Fields,
    /// Non-system fields whose value changed (updates only).
    pub changed: &'a [String],
}

fn flag(fields: &Fields, name: &str, default: bool) -> Result<bool, RestError> {
    match field(fields, name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(RestError::bad_request(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            format!("{name}: value not of required type: {other}"),
        )
        .on_fields(&[name])),
    }
}

fn text<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    field(fields, name).and_then(Value::as_str)
}

impl PushTopic {
    /// Validates a PushTopic record's fields (after defaults) and parses its query.
    pub fn from_record(id: &str, fields: &Fields) -> Result<Self, RestError> {
        let missing = |name: &str| {
            RestError::bad_request(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{name}]"),
            )
            .on_fields(&[name])
        };
        let name = text(fields, "Name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("Name"))?;
        if name.chars().count() > 25 {
            return Err(RestError::bad_request(
                "STRING_TOO_LONG",
                format!("Name: data value too large: {name} (max length=25)"),
            )
            .on_fields(&["Name"]));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(RestError::bad_request(
                "INVALID_FIELD",
                "Name: use only letters, digits and underscores",
            )
            .on_fields(&["Name"]));
        }
        let query_text = text(fields, "Query")
            .filter(|q| !q.is_empty())
            .ok_or_else(|| missing("Query"))?;
        if query_text.chars().count() > 1_300 {
            return Err(RestError::bad_request(
                "STRING_TOO_LONG",
                "Query: data value too large (max length=1300)",
            )
            .on_fields(&["Query"]));
        }
        match field(fields, "ApiVersion") {
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v > 20.0) => {}
            Some(Value::String(s)) if s.parse::<f64>().is_ok_and(|v| v > 20.0) => {}
            None | Some(Value::Null) => return Err(missing("ApiVersion")),
            Some(other) => {
                return Err(RestError::bad_request(
                    "FIELD_INTEGRITY_EXCEPTION",
                    format!("ApiVersion must be greater than 20.0: {other}"),
                )
                .on_fields(&["ApiVersion"]))
            }
        }
        let query = bayou_soql::parse(query_text).and_then(|q| {
            q.validate_for_pushtopic()?;
            Ok(q)
        });
        let query = query.map_err(|e| {
            // `describe` starts with Salesforce's `CODE, text`.
            RestError::bad_request(e.code, e.describe(query_text)).on_fields(&["Query"])
        })?;
        let Some((object, _)) =
            objects::lookup(&query.object.name).filter(|(o, _)| o != "PushTopic")
        else {
            return Err(RestError::bad_request(
                "INVALID_TYPE",
                format!("sObject type '{}' is not supported.", query.object.name),
            )
            .on_fields(&["Query"]));
        };
        let notify_for_fields = match text(fields, "NotifyForFields").unwrap_or("Referenced") {
            v if v.eq_ignore_ascii_case("All") => NotifyForFields::All,
            v if v.eq_ignore_ascii_case("Referenced") => NotifyForFields::Referenced,
            v if v.eq_ignore_ascii_case("Select") => NotifyForFields::Select,
            v if v.eq_ignore_ascii_case("Where") => NotifyForFields::Where,
            other => {
                return Err(RestError::bad_request(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!("bad value for restricted picklist field: {other}"),
                )
                .on_fields(&["NotifyForFields"]))
            }
        };
        let has_non_id = |list: Vec<&str>| list.iter().any(|f| !f.eq_ignore_ascii_case("Id"));
        if notify_for_fields == NotifyForFields::Select && !has_non_id(query.select_fields()) {
            return Err(RestError::bad_request(
                "FIELD_INTEGRITY_EXCEPTION",
                "NotifyForFields Select needs a SELECT field other than Id",
            )
            .on_fields(&["NotifyForFields"]));
        }
        if notify_for_fields == NotifyForFields::Where && !has_non_id(query.where_fields()) {
            return Err(RestError::bad_request(
                "FIELD_INTEGRITY_EXCEPTION",
                "NotifyForFields Where needs a WHERE clause field other than Id",
            )
            .on_fields(&["NotifyForFields"]));
        }
        Ok(Self {
            id: id.to_owned(),
            name: name.to_owned(),
            object,
            query,
            notify_create: flag(fields, "NotifyForOperationCreate", true)?,
            notify_update: flag(fields, "NotifyForOperationUpdate", true)?,
            notify_delete: flag(fields, "NotifyForOperationDelete", true)?,
            notify_undelete: flag(fields, "NotifyForOperationUndelete", true)?,
            notify_for_fields,
            active: flag(fields, "IsActive", true)?,
        })
    }

    /// The channel this topic publishes on.
    pub fn channel(&self) -> String {
        format!("/topic/{}", self.name)
    }
}
