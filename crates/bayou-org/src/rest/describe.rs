//! Describes: `GET sobjects` (every object the org has), `GET sobjects/{Type}` (one object's
//! summary) and `GET sobjects/{Type}/describe` (its fields), shaped like Salesforce's, since
//! client libraries and tools describe objects before they read or write them.
//!
//! Bayou's objects have no declared schema: an object's fields are its system fields, the
//! fields its records were written with (their type fixed by the first value, see
//! `records/schema.rs`), PushTopic's documented fields, and for `User` and `Organization` the
//! fields of the org's identity. Every field is filterable and sortable, as Bayou's SOQL allows.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::as_user;
use super::errors::RestError;
use crate::records::schema::FieldKind;
use crate::records::{identity_objects, objects, SYSTEM_FIELDS};
use crate::Org;

/// `GET /services/data/vXX.X/sobjects`
pub async fn global(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    as_user(&org, &headers, |_| async {
        let custom = org.schema.read().custom_objects();
        let standard = objects::standard().map(|(name, _)| name.to_owned());
        let sobjects: Vec<Value> = standard
            .chain(custom)
            .filter_map(|name| org.object(&name))
            .map(|(name, prefix)| summary(&version, &name, &prefix))
            .collect();
        Ok(
            Json(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}))
                .into_response(),
        )
    })
    .await
}

/// `GET /services/data/vXX.X/sobjects/{Type}`
pub async fn basic(
    State(org): State<Arc<Org>>,
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    as_user(&org, &headers, |_| async {
        let (_, _, summary) = described(&org, &version, &object)?;
        Ok(Json(json!({"objectDescribe": summary, "recentItems": []})).into_response())
    })
    .await
}

/// `GET /services/data/vXX.X/sobjects/{Type}/describe`
pub async fn describe(
    State(org): State<Arc<Org>>,
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    as_user(&org, &headers, |_| async {
        let (name, _, mut reply) = described(&org, &version, &object)?;
        let fields: Vec<Value> = field_list(&org, &name)
            .into_iter()
            .map(|(field, kind)| describe_field(&field, kind))
            .collect();
        reply["fields"] = Value::Array(fields);
        reply["childRelationships"] = json!([]);
        reply["recordTypeInfos"] = json!([]);
        reply["supportedScopes"] = json!([]);
        reply["namedLayoutInfos"] = json!([]);
        Ok(Json(reply).into_response())
    })
    .await
}

/// `object`'s canonical name, key prefix and summary, or the 404 of an unknown object.
fn described(org: &Org, version: &str, object: &str) -> Result<(String, String, Value), RestError> {
    let (name, prefix) = org.object(object).ok_or_else(RestError::not_found)?;
    let summary = summary(version, &name, &prefix);
    Ok((name, prefix, summary))
}

/// The kind of a field in a describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Id,
    Reference,
    DateTime,
    Learned(FieldKind),
}

/// `object`'s fields: `Id` first, then the others by name.
fn field_list(org: &Org, object: &str) -> Vec<(String, Kind)> {
    let mut fields: Vec<(String, Kind)> = Vec::new();
    if identity_objects::is_identity_object(object) {
        let records = identity_objects::records(org, object).unwrap_or_default();
        if let Some(record) = records.first() {
            for (name, value) in record {
                let kind = FieldKind::of(value).unwrap_or(FieldKind::Text);
                fields.push((name.clone(), Kind::Learned(kind)));
            }
        }
    } else {
        for name in SYSTEM_FIELDS {
            fields.push(((*name).to_owned(), system_kind(name)));
        }
        for (name, kind) in org.schema.read().fields(object) {
            if !fields.iter().any(|(f, _)| f.eq_ignore_ascii_case(&name)) {
                fields.push((name, Kind::Learned(kind)));
            }
        }
    }
    for (name, kind) in &mut fields {
        if name == "Id" {
            *kind = Kind::Id;
        }
    }
    fields.sort_by(|(a, _), (b, _)| (a != "Id", a).cmp(&(b != "Id", b)));
    fields
}

fn system_kind(name: &str) -> Kind {
    match name {
        "Id" => Kind::Id,
        "CreatedById" | "LastModifiedById" => Kind::Reference,
        "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => Kind::DateTime,
        _ => Kind::Learned(FieldKind::Boolean), // IsDeleted
    }
}

fn describe_field(name: &str, kind: Kind) -> Value {
    let (ty, soap, length) = match kind {
        Kind::Id => ("id", "tns:ID", 18),
        Kind::Reference => ("reference", "tns:ID", 18),
        Kind::DateTime => ("datetime", "xsd:dateTime", 0),
        Kind::Learned(FieldKind::Boolean) => ("boolean", "xsd:boolean", 0),
        Kind::Learned(FieldKind::Number) => ("double", "xsd:double", 0),
        Kind::Learned(FieldKind::Text) => ("string", "xsd:string", 255),
    };
    let system = kind == Kind::Id || SYSTEM_FIELDS.contains(&name);
    json!({
        "name": name,
        "label": label(name),
        "type": ty,
        "soapType": soap,
        "length": length,
        "byteLength": length * 3,
        "precision": if ty == "double" { 18 } else { 0 },
        "scale": 0,
        "digits": 0,
        "nillable": !system && ty != "boolean",
        "createable": !system,
        "updateable": !system,
        "defaultedOnCreate": system || ty == "boolean",
        "filterable": true,
        "sortable": true,
        "groupable": ty != "double",
        "aggregatable": true,
        "custom": name.ends_with("__c"),
        "calculated": false,
        "autoNumber": false,
        "caseSensitive": false,
        "unique": false,
        "externalId": false,
        "idLookup": kind == Kind::Id,
        "nameField": name == "Name",
        "referenceTo": if kind == Kind::Reference { json!(["User"]) } else { json!([]) },
        "relationshipName": if kind == Kind::Reference { json!(name.trim_end_matches("Id")) } else { Value::Null },
        "picklistValues": [],
        "defaultValue": null,
        "inlineHelpText": null,
    })
}

/// An object's entry in the global describe (and the start of its own describe).
fn summary(version: &str, name: &str, prefix: &str) -> Value {
    let writable = !identity_objects::is_identity_object(name);
    let base = format!("/services/data/{version}/sobjects/{name}");
    json!({
        "name": name,
        "label": label(name),
        "labelPlural": format!("{}s", label(name)),
        "keyPrefix": prefix,
        "custom": name.ends_with("__c"),
        "customSetting": false,
        "activateable": false,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "undeletable": writable,
        "mergeable": false,
        "queryable": true,
        "retrieveable": true,
        "searchable": false,
        "replicateable": true,
        "triggerable": writable,
        "layoutable": true,
        "feedEnabled": false,
        "mruEnabled": false,
        "hasSubtypes": false,
        "isSubtype": false,
        "deprecatedAndHidden": false,
        "urls": {
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
        },
    })
}

/// A label from an API name: `Invoice_Statement__c` → `Invoice Statement`.
fn label(name: &str) -> String {
    name.trim_end_matches("__c").replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_described_by_their_kind() {
        let id = describe_field("Id", Kind::Id);
        assert_eq!(
            (id["type"].as_str(), id["createable"].as_bool()),
            (Some("id"), Some(false))
        );
        let owner = describe_field("CreatedById", Kind::Reference);
        assert_eq!(owner["referenceTo"], json!(["User"]));
        assert_eq!(owner["relationshipName"], "CreatedBy");
        let name = describe_field("Name", Kind::Learned(FieldKind::Text));
        assert_eq!(name["type"], "string");
        assert_eq!(name["nameField"], true);
        assert_eq!(name["createable"], true);
        let amount = describe_field("Amount__c", Kind::Learned(FieldKind::Number));
        assert_eq!(
            (amount["type"].as_str(), amount["custom"].as_bool()),
            (Some("double"), Some(true))
        );
        assert_eq!(label("Invoice_Statement__c"), "Invoice Statement");
    }
}
