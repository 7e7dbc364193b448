//! Platform events in Avro, as Salesforce's Pub/Sub API carries them: one record schema per
//! event type, named after the event in namespace `com.sforce.eventbus`, with `CreatedDate`
//! (epoch milliseconds, `long`) and `CreatedById` (`string`) first and every custom field a
//! nullable union. The schema id is Salesforce's: the MD5 fingerprint of the schema's Parsing
//! Canonical Form, URL-safe base64 (22 characters), so it is the same on every node and after
//! every restart, and changes when the fields change; the same id is the `schema` of the
//! event's CometD message, as on Salesforce. Schemas are stored (`EventSchema/<id>`), so an
//! event published before its type changed still decodes with the schema it was written with.
//!
//! The log stores each event once, in its CometD shape. [`EventSchema::encode`] turns that
//! payload into the raw Avro datum a Pub/Sub subscriber receives, and [`EventSchema::decode`]
//! turns a datum a Pub/Sub publisher sends into the fields a REST publish would carry.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use base64::Engine as _;
use md5::{Digest, Md5};
use parking_lot::RwLock;
use serde_json::{json, Map, Number, Value};

use super::datum::Typed;
use super::raw_json::{RawObject, Scalar};
use super::EventType;
use crate::records::schema::FieldKind;
use bayou_protocol::time::{iso8601_millis, parse_iso8601_millis};

/// Change event schemas kept built (each object has one per set of fields it has had).
const MAX_CACHED_CHANGE_SCHEMAS: usize = 4_096;

/// Key prefix of stored schemas.
pub const STORE_PREFIX: &str = "EventSchema/";

/// Salesforce's namespace for event schemas.
pub const NAMESPACE: &str = "com.sforce.eventbus";

/// The largest event Salesforce takes (1 MB). Also the most a datum's length prefixes may make
/// the decoder allocate: a few hostile bytes claiming a gigabyte string are refused instead.
pub const MAX_EVENT_BYTES: usize = 1_000_000;

/// The Avro type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Double,
    Boolean,
    /// A date-time: epoch milliseconds in Avro, ISO-8601 text in JSON.
    DateTime,
}

impl Kind {
    /// The kind of a field declared as `text`, `number`, `boolean`, `datetime`, … (see
    /// `EventType::validate` for the names allowed).
    fn of_declared(declared: &str) -> Kind {
        if declared.eq_ignore_ascii_case("datetime") {
            return Kind::DateTime;
        }
        super::kind_of(declared).map_or(Kind::String, Kind::of_field)
    }

    /// The Avro type of a record field or declared field of `kind`.
    pub(crate) fn of_field(kind: FieldKind) -> Kind {
        match kind {
            FieldKind::Text => Kind::String,
            FieldKind::Number => Kind::Double,
            FieldKind::Boolean => Kind::Boolean,
        }
    }

    pub(crate) fn avro_name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Double => "double",
            Kind::Boolean => "boolean",
            Kind::DateTime => "long",
        }
    }

    pub(crate) fn doc(self) -> &'static str {
        match self {
            Kind::String => "Data:Text",
            Kind::Double => "Data:Double",
            Kind::Boolean => "Data:Checkbox",
            Kind::DateTime => "Data:DateTime",
        }
    }
}

/// Why an event could not be turned into Avro or back.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("the event does not fit its schema: {0}")]
    Encode(String),
    #[error("the payload is not a valid Avro datum for schema {schema}: {reason}")]
    Decode { schema: String, reason: String },
}

/// One event type's Avro schema.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// The fingerprint clients ask `GetSchema` for (22 characters, URL-safe base64).
    pub id: String,
    /// The event type it describes (`Name__e`).
    pub event: String,
    /// The schema as JSON, as `GetSchema` returns it.
    pub json: String,
    pub(crate) schema: Schema,
    /// The fields after the fixed ones (a platform event's custom fields, a change event's
    /// body), in schema order.
    pub(crate) fields: Vec<(String, Kind)>,
    pub(crate) shape: Shape,
}

/// What kind of event a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `CreatedDate`, `CreatedById`, then custom fields.
    Platform,
    /// `ChangeEventHeader`, then the object's fields (see `cdc::avro`).
    Change,
}

impl EventSchema {
    /// The schema of `event_type` as it is defined now.
    pub fn of(event_type: &EventType) -> Result<Self, AvroError> {
        let mut fields = vec![
            json!({"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"}),
            json!({"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"}),
        ];
        let mut custom = Vec::new();
        for (name, declared) in &event_type.fields {
            let kind = Kind::of_declared(declared);
            fields.push(json!({
                "name": name,
                "type": ["null", kind.avro_name()],
                "doc": kind.doc(),
                "default": null,
            }));
            custom.push((name.clone(), kind));
        }
        let json = json!({
            "type": "record",
            "name": event_type.name,
            "namespace": NAMESPACE,
            "fields": fields,
        })
        .to_string();
        Self::parse(&event_type.name, &json, custom, Shape::Platform)
    }

    /// A schema stored earlier (`json` as [`EventSchema::json`] wrote it).
    pub fn from_stored(event: &str, json: &str) -> Result<Self, AvroError> {
        let parsed: Value =
            serde_json::from_str(json).map_err(|e| AvroError::Encode(e.to_string()))?;
        let shape = if parsed["fields"][0]["name"] == "ChangeEventHeader" {
            Shape::Change
        } else {
            Shape::Platform
        };
        let fixed = match shape {
            Shape::Platform => 2,
            Shape::Change => 1,
        };
        let custom = parsed["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .skip(fixed)
            .filter_map(|field| {
                let name = field["name"].as_str()?;
                let kind = match field["type"][1].as_str()? {
                    "double" => Kind::Double,
                    "boolean" => Kind::Boolean,
                    "long" => Kind::DateTime,
                    _ => Kind::String,
                };
                Some((name.to_owned(), kind))
            })
            .collect();
        Self::parse(event, json, custom, shape)
    }

    pub(crate) fn parse(
        event: &str,
        json: &str,
        fields: Vec<(String, Kind)>,
        shape: Shape,
    ) -> Result<Self, AvroError> {
        let schema = Schema::parse_str(json).map_err(|e| AvroError::Encode(e.to_string()))?;
        let canonical = schema.canonical_form();
        let digest = Md5::digest(canonical.as_bytes());
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        Ok(Self {
            id,
            event: event.to_owned(),
            json: json.to_owned(),
            schema,
            fields,
            shape,
        })
    }

    /// The Avro datum of a CometD payload (`{"CreatedDate": "2026-…Z", "CreatedById": …,
    /// fields…}`). Fields the schema does not have are left out; fields it has that the payload
    /// lacks are null.
    pub fn encode(&self, payload: &Map<String, Value>) -> Result<Vec<u8>, AvroError> {
        if self.shape == Shape::Change {
            return crate::cdc::avro::encode(self, payload);
        }
        let created = payload
            .get("CreatedDate")
            .and_then(Value::as_str)
            .and_then(parse_iso8601_millis)
            .unwrap_or_default();
        let created_by = payload
            .get("CreatedById")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Written directly (see `datum.rs`): a platform event's schema has one shape.
        Ok(super::datum::platform(
            created,
            created_by,
            &self.fields,
            |name| payload.get(name).map(Scalar::of_value),
        ))
    }

    /// [`EventSchema::encode`] of a payload read in place from its JSON text: the same datum,
    /// without building a map of the payload first (a platform event's; a change event's
    /// payload is read into a map, as `encode` takes it).
    pub fn encode_raw(&self, payload: &RawObject<'_>) -> Result<Vec<u8>, AvroError> {
        if self.shape == Shape::Change {
            let payload: Map<String, Value> = serde_json::from_str(payload.json())
                .map_err(|e| AvroError::Encode(e.to_string()))?;
            return crate::cdc::avro::encode(self, &payload);
        }
        let created = payload
            .text("CreatedDate")
            .and_then(|text| parse_iso8601_millis(&text))
            .unwrap_or_default();
        let created_by = payload.text("CreatedById").unwrap_or_default();
        Ok(super::datum::platform(
            created,
            &created_by,
            &self.fields,
            |name| payload.get(name).map(Scalar::of_raw),
        ))
    }

    /// The datum of `record`, checked against the schema.
    pub(crate) fn write(&self, record: Avro) -> Result<Vec<u8>, AvroError> {
        GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|writer| writer.write_value_to_vec(record))
            .map_err(|e| AvroError::Encode(e.to_string()))
    }

    /// The fields of a datum a publisher sent, as a CometD payload would carry them
    /// (`CreatedDate` as ISO-8601 text).
    pub fn decode(&self, datum: &[u8]) -> Result<Map<String, Value>, AvroError> {
        let fail = |reason: String| AvroError::Decode {
            schema: self.id.clone(),
            reason,
        };
        if self.shape == Shape::Change {
            return Err(fail("change events are not published by clients".into()));
        }
        apache_avro::util::max_allocation_bytes(MAX_EVENT_BYTES);
        let mut reader = datum;
        let value = GenericDatumReader::builder(&self.schema)
            .build()
            .and_then(|decoder| decoder.read_value(&mut reader))
            .map_err(|e| fail(e.to_string()))?;
        if !reader.is_empty() {
            return Err(fail(format!("{} bytes after the record", reader.len())));
        }
        let Avro::Record(fields) = value else {
            return Err(fail("not a record".into()));
        };
        let mut payload = Map::new();
        for (name, value) in fields {
            let value = match value {
                Avro::Union(_, inner) => *inner,
                other => other,
            };
            let kind = if name == "CreatedDate" {
                Some(Kind::DateTime)
            } else {
                self.fields
                    .iter()
                    .find(|(f, _)| *f == name)
                    .map(|(_, k)| *k)
            };
            payload.insert(name, from_avro(kind, value));
        }
        Ok(payload)
    }
}

/// Schemas known to this node: every one seen, by id, and the current one of each event type.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    by_id: RwLock<HashMap<String, Arc<EventSchema>>>,
    /// Lower-cased event name → its current schema.
    current: RwLock<HashMap<String, Arc<EventSchema>>>,
    /// Change event schemas by the object and fields they were made from, so each is built
    /// once (remembered by id only once stored).
    changes: RwLock<HashMap<String, Arc<EventSchema>>>,
}

impl SchemaRegistry {
    /// The schema with id `id`, if this node has seen it.
    pub fn get(&self, id: &str) -> Option<Arc<EventSchema>> {
        self.by_id.read().get(id).cloned()
    }

    /// The current schema of the event type named `event` (case-insensitive).
    pub fn current(&self, event: &str) -> Option<Arc<EventSchema>> {
        self.current
            .read()
            .get(&event.to_ascii_lowercase())
            .cloned()
    }

    /// The change event schema of `object` with `fields`, built on first use.
    pub fn change_schema(
        &self,
        object: &str,
        fields: &[(String, crate::records::schema::FieldKind)],
    ) -> Result<Arc<EventSchema>, AvroError> {
        let mut description = object.to_owned();
        for (name, kind) in fields {
            description.push_str(&format!(",{name}:{kind:?}"));
        }
        if let Some(known) = self.changes.read().get(&description) {
            return Ok(Arc::clone(known));
        }
        let schema = Arc::new(crate::cdc::avro::change_schema(object, fields)?);
        let mut changes = self.changes.write();
        if changes.len() >= MAX_CACHED_CHANGE_SCHEMAS {
            changes.clear(); // a cache: rebuilt as needed
        }
        changes.insert(description, Arc::clone(&schema));
        Ok(schema)
    }

    /// Remembers a schema read from the store.
    pub fn remember(&self, schema: Arc<EventSchema>) {
        self.by_id.write().insert(schema.id.clone(), schema);
    }

    /// Makes `schemas` the current ones (older ones stay known by id).
    pub fn set_current(&self, schemas: Vec<Arc<EventSchema>>) {
        let mut by_id = self.by_id.write();
        let mut current = HashMap::new();
        for schema in schemas {
            by_id.insert(schema.id.clone(), Arc::clone(&schema));
            current.insert(schema.event.to_ascii_lowercase(), schema);
        }
        *self.current.write() = current;
    }
}

/// How a schema is stored: its event's name and its JSON.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StoredSchema {
    pub event: String,
    pub schema: String,
}

/// A JSON value as apache-avro's value for a field of `kind` (see `datum::typed`).
pub(crate) fn to_avro(kind: Kind, value: &Value) -> Avro {
    match super::datum::typed(kind, Scalar::of_value(value)) {
        None => Avro::Null,
        Some(Typed::Text(text)) => Avro::String(text.into_owned()),
        Some(Typed::Double(number)) => Avro::Double(number),
        Some(Typed::Boolean(flag)) => Avro::Boolean(flag),
        Some(Typed::Long(millis)) => Avro::Long(millis),
    }
}

fn from_avro(kind: Option<Kind>, value: Avro) -> Value {
    match value {
        Avro::Long(ms) if kind == Some(Kind::DateTime) => Value::String(iso8601_millis(ms)),
        Avro::Long(n) => Value::from(n),
        Avro::Int(n) => Value::from(n),
        Avro::Double(d) => Number::from_f64(d).map_or(Value::Null, Value::Number),
        Avro::Float(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Avro::Boolean(b) => Value::Bool(b),
        Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn low_ink(extra: &[(&str, &str)]) -> EventType {
        let mut fields = BTreeMap::from([
            ("Printer_Model__c".to_owned(), "text".to_owned()),
            ("Ink_Percentage__c".to_owned(), "number".to_owned()),
            ("Urgent__c".to_owned(), "checkbox".to_owned()),
            ("Noticed_At__c".to_owned(), "datetime".to_owned()),
        ]);
        for (name, kind) in extra {
            fields.insert((*name).to_owned(), (*kind).to_owned());
        }
        EventType {
            name: "Low_Ink__e".into(),
            fields,
        }
    }

    #[test]
    fn the_schema_looks_like_salesforces() {
        let schema = EventSchema::of(&low_ink(&[])).unwrap();
        let json: Value = serde_json::from_str(&schema.json).unwrap();
        assert_eq!(json["name"], "Low_Ink__e");
        assert_eq!(json["namespace"], NAMESPACE);
        assert_eq!(json["fields"][0]["name"], "CreatedDate");
        assert_eq!(json["fields"][0]["type"], "long");
        assert_eq!(json["fields"][1]["name"], "CreatedById");
        assert_eq!(json["fields"][1]["type"], "string");
        let ink = json["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Ink_Percentage__c")
            .unwrap();
        assert_eq!(ink["type"], json!(["null", "double"]));
        assert_eq!(ink["default"], Value::Null);
    }

    #[test]
    fn the_id_is_stable_and_changes_with_the_fields() {
        let one = EventSchema::of(&low_ink(&[])).unwrap();
        assert_eq!(one.id.len(), 22);
        assert_eq!(one.id, EventSchema::of(&low_ink(&[])).unwrap().id);
        let other = EventSchema::of(&low_ink(&[("Color__c", "text")])).unwrap();
        assert_ne!(one.id, other.id);
        let stored = EventSchema::from_stored(&one.event, &one.json).unwrap();
        assert_eq!(stored.id, one.id);
    }

    #[test]
    fn a_payload_survives_the_round_trip_through_avro() {
        let schema = EventSchema::of(&low_ink(&[])).unwrap();
        let payload = json!({
            "CreatedDate": "2026-12-06T10:00:00.123Z",
            "CreatedById": "005xx000001X8Uz",
            "Printer_Model__c": "XZO-5",
            "Ink_Percentage__c": 0.2,
            "Urgent__c": true,
            "Noticed_At__c": "2026-12-06T09:59:00.000Z",
            "Not_In_Schema__c": "dropped",
        });
        let datum = schema.encode(payload.as_object().unwrap()).unwrap();
        let back = schema.decode(&datum).unwrap();
        let mut expected = payload.as_object().unwrap().clone();
        expected.remove("Not_In_Schema__c");
        for (name, value) in &expected {
            assert_eq!(&back[name], value, "{name}");
        }
    }

    #[test]
    fn missing_fields_are_null_and_garbage_is_refused() {
        let schema = EventSchema::of(&low_ink(&[])).unwrap();
        let datum = schema
            .encode(json!({"CreatedById": "005"}).as_object().unwrap())
            .unwrap();
        let back = schema.decode(&datum).unwrap();
        assert_eq!(back["Printer_Model__c"], Value::Null);
        assert!(schema.decode(&[0xff, 0xff, 0xff]).is_err());
        // A string claiming about 2^62 bytes: refused without allocating it.
        let mut huge = vec![0x02]; // CreatedDate 1
        huge.extend([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(schema.decode(&huge).is_err());
        let mut trailing = datum.clone();
        trailing.push(0);
        assert!(schema.decode(&trailing).is_err());
    }
}
