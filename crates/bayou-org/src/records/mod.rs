//! Records: sObjects stored in the event log's record keyspace, keyed `<Type>/<Id>`, as JSON
//! objects of their fields.
//!
//! Every record carries the system fields `Id`, `CreatedDate`, `CreatedById`,
//! `LastModifiedDate`, `LastModifiedById`, `SystemModstamp` and `IsDeleted`. A deleted record
//! stays stored with `IsDeleted: true`, as in Salesforce's recycle bin.

pub mod identity_objects;
pub mod objects;
pub mod schema;
pub mod write;

use serde_json::{Map, Value};

/// A record's fields.
pub type Fields = Map<String, Value>;

/// Fields the API sets and clients may not.
pub const SYSTEM_FIELDS: &[&str] = &[
    "Id",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsDeleted",
];

/// The store key of a record.
pub fn key(object: &str, id: &str) -> Vec<u8> {
    format!("{object}/{id}").into_bytes()
}

/// A field of `fields` by case-insensitive name.
pub fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The canonical spelling of `name` among `fields`' keys, or `name` itself.
pub fn canonical_name(fields: &Fields, name: &str) -> String {
    fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}
