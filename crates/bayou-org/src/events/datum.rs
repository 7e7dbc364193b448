//! A platform event's Avro datum, written straight from its JSON payload (a parsed map, or the
//! payload's text read in place by `raw_json`).
//!
//! Why not apache-avro's writer here: the Pub/Sub API turns every event it delivers into a
//! datum, and with one subscriber nothing shares that work. A profile of the server delivering
//! 10,000 events/s to one gRPC subscriber had a sixth of its time in the conversion, most of it
//! in apache-avro building a writer and a tree of values for every event (docs/benchmarks.md).
//! A platform event's schema always has one shape — `CreatedDate` (long), `CreatedById`
//! (string), then each custom field a union of null and a string, double, boolean or long — and
//! Avro's binary encoding of those is a few lines. The tests check every byte against
//! apache-avro's writer. Change events, whose schema is richer, still go through apache-avro.

use std::borrow::Cow;

use bayou_protocol::time::parse_iso8601_millis;

use super::avro::Kind;
use super::raw_json::Scalar;

/// The datum of a platform event: `created_ms`, `created_by`, then each of `fields` as
/// `field` gives it (null when the payload lacks the field or its value does not fit the
/// field's kind, as [`typed`] decides).
pub(crate) fn platform<'a>(
    created_ms: i64,
    created_by: &str,
    fields: &[(String, Kind)],
    field: impl Fn(&str) -> Option<Scalar<'a>>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + created_by.len() + fields.len() * 16);
    put_long(&mut out, created_ms);
    put_string(&mut out, created_by);
    for (name, kind) in fields {
        put_field(&mut out, *kind, field(name).unwrap_or(Scalar::Null));
    }
    out
}

/// One custom field: a union of null (branch 0) and the field's kind (branch 1).
fn put_field(out: &mut Vec<u8>, kind: Kind, value: Scalar<'_>) {
    let Some(value) = typed(kind, value) else {
        put_long(out, 0);
        return;
    };
    put_long(out, 1);
    match value {
        Typed::Text(text) => put_string(out, &text),
        Typed::Double(number) => out.extend_from_slice(&number.to_le_bytes()),
        Typed::Boolean(flag) => out.push(u8::from(flag)),
        Typed::Long(number) => put_long(out, number),
    }
}

/// A JSON value as a field of one [`Kind`] takes it.
pub(crate) enum Typed<'a> {
    Text(Cow<'a, str>),
    Double(f64),
    Boolean(bool),
    /// A date-time's epoch milliseconds.
    Long(i64),
}

/// `value` as a field of `kind` takes it, or `None` (Avro's null) when it does not fit: text
/// takes anything but null (as JSON writes it), a date-time ISO-8601 text or a whole number.
/// The one place that decides, for platform events' datums and change events' records alike.
pub(crate) fn typed(kind: Kind, value: Scalar<'_>) -> Option<Typed<'_>> {
    match (kind, value) {
        (_, Scalar::Null) => None,
        (Kind::String, Scalar::Text(text)) => Some(Typed::Text(text)),
        (Kind::String, Scalar::Bool(flag)) => Some(Typed::Text(Cow::Borrowed(if flag {
            "true"
        } else {
            "false"
        }))),
        (Kind::String, Scalar::Number(number)) => Some(Typed::Text(Cow::Owned(number.to_string()))),
        (Kind::String, Scalar::Composite(json)) => Some(Typed::Text(Cow::Owned(json))),
        (Kind::Double, Scalar::Number(number)) => number.as_f64().map(Typed::Double),
        (Kind::Boolean, Scalar::Bool(flag)) => Some(Typed::Boolean(flag)),
        (Kind::DateTime, Scalar::Text(text)) => parse_iso8601_millis(&text).map(Typed::Long),
        (Kind::DateTime, Scalar::Number(number)) => number.as_i64().map(Typed::Long),
        _ => None,
    }
}

/// Avro's `long`: zig-zag, then seven bits a byte, lowest first.
fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut rest = ((n << 1) ^ (n >> 63)) as u64;
    while rest >= 0x80 {
        out.push((rest as u8) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Avro's `string`: its length in bytes as a `long`, then the UTF-8 bytes.
fn put_string(out: &mut Vec<u8>, text: &str) {
    put_long(out, text.len() as i64);
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use apache_avro::writer::datum::GenericDatumWriter;
    use proptest::prelude::*;
    use serde_json::json;

    use serde_json::{Map, Value};

    use super::*;
    use crate::events::avro::{to_avro, EventSchema};
    use crate::events::raw_json::RawObject;
    use crate::events::EventType;
    use apache_avro::types::Value as Avro;

    fn event_type() -> EventType {
        EventType {
            name: "Every_Kind__e".into(),
            fields: BTreeMap::from([
                ("Text__c".to_owned(), "text".to_owned()),
                ("Number__c".to_owned(), "number".to_owned()),
                ("Flag__c".to_owned(), "checkbox".to_owned()),
                ("When__c".to_owned(), "datetime".to_owned()),
            ]),
        }
    }

    /// The same datum by apache-avro's writer, as the schema checks it.
    fn reference(
        schema: &EventSchema,
        created: i64,
        by: &str,
        payload: &Map<String, Value>,
    ) -> Vec<u8> {
        let mut record = vec![
            ("CreatedDate".to_owned(), Avro::Long(created)),
            ("CreatedById".to_owned(), Avro::String(by.to_owned())),
        ];
        for (name, kind) in &schema.fields {
            let value = payload.get(name).map_or(Avro::Null, |v| to_avro(*kind, v));
            let value = match value {
                Avro::Null => Avro::Union(0, Box::new(Avro::Null)),
                other => Avro::Union(1, Box::new(other)),
            };
            record.push((name.clone(), value));
        }
        GenericDatumWriter::builder(&schema.schema)
            .build()
            .and_then(|writer| writer.write_value_to_vec(Avro::Record(record)))
            .unwrap()
    }

    fn any_json() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e12..1e12f64).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            Just(json!("2026-12-07T05:00:00.123Z")),
            Just(json!({"nested": [1, 2]})),
        ]
    }

    #[test]
    fn a_known_payload_is_written_as_apache_avro_writes_it() {
        let schema = EventSchema::of(&event_type()).unwrap();
        let payload = json!({
            "Text__c": "héllo",
            "Number__c": 0.25,
            "Flag__c": true,
            "When__c": "2026-12-07T05:00:00.123Z",
        });
        let payload = payload.as_object().unwrap();
        let datum = platform(1_796_000_000_000, "005xx", &schema.fields, |name| {
            payload.get(name).map(Scalar::of_value)
        });
        assert_eq!(
            datum,
            reference(&schema, 1_796_000_000_000, "005xx", payload)
        );
        let back = schema.decode(&datum).unwrap();
        assert_eq!(back["Text__c"], "héllo");
        assert_eq!(back["When__c"], "2026-12-07T05:00:00.123Z");
    }

    proptest! {
        #[test]
        fn every_payload_is_written_as_apache_avro_writes_it(
            created in any::<i64>(),
            by in any::<String>(),
            values in prop::collection::vec(prop::option::of(any_json()), 4),
        ) {
            let schema = EventSchema::of(&event_type()).unwrap();
            let mut payload = Map::new();
            for ((name, _), value) in schema.fields.iter().zip(values) {
                if let Some(value) = value {
                    payload.insert(name.clone(), value);
                }
            }
            let datum = platform(created, &by, &schema.fields, |name| {
                payload.get(name).map(Scalar::of_value)
            });
            prop_assert_eq!(&datum, &reference(&schema, created, &by, &payload));
            // Read from the payload's JSON text without building a map: the same bytes as
            // from the map that text parses into (serde_json's float parsing may not give back
            // the last digit of a double written in memory, so it is the map read from the
            // text that compares).
            let json = Value::Object(payload).to_string();
            let object = RawObject::parse(&json).unwrap();
            let from_text = platform(created, &by, &schema.fields, |name| {
                object.get(name).map(Scalar::of_raw)
            });
            let parsed: Map<String, Value> = serde_json::from_str(&json).unwrap();
            let from_map = platform(created, &by, &schema.fields, |name| {
                parsed.get(name).map(Scalar::of_value)
            });
            prop_assert_eq!(from_text, from_map);
        }
    }
}
