//! Change events in Avro, as the Pub/Sub API carries them: a record per object
//! (`AccountChangeEvent`, `Invoice__ChangeEvent`) in `com.sforce.eventbus` whose first field is
//! the `ChangeEventHeader` record, followed by the object's fields, each a nullable union.
//!
//! Two things differ from the CometD shape, as on Salesforce: the header's `changedFields`,
//! `nulledFields` and `diffFields` are bitmaps — hex strings (`0x…`, upper-case digits) in which
//! bit *i* marks the schema's field *i* (the header is field 0) — instead of field names; and
//! every field the event does not carry is present, as null. Date-times (`CreatedDate`,
//! `LastModifiedDate`) are epoch milliseconds.

use apache_avro::types::Value as Avro;
use serde_json::{json, Map, Value};

use crate::events::avro::{to_avro, AvroError, EventSchema, Kind, Shape, NAMESPACE};
use crate::records::schema::FieldKind;
use bayou_protocol::time::parse_iso8601_millis;

/// Salesforce's `changeType` symbols.
const CHANGE_TYPES: &[&str] = &[
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
];

/// Fields a change event never carries (the record id is in `recordIds`).
const NEVER_SENT: &[&str] = &["Id", "IsDeleted", "SystemModstamp"];

/// System date-times, epoch milliseconds in Avro.
const DATE_TIMES: &[&str] = &["CreatedDate", "LastModifiedDate"];

/// The record name of `object`'s change events: `AccountChangeEvent`, `Invoice__ChangeEvent`.
pub fn record_name(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(custom) => format!("{custom}__ChangeEvent"),
        None => format!("{object}ChangeEvent"),
    }
}

/// The change event schema of `object` with `fields` (name and kind, in the order given).
pub fn change_schema(
    object: &str,
    fields: &[(String, FieldKind)],
) -> Result<EventSchema, AvroError> {
    let strings = json!({"type": "array", "items": "string"});
    let header = json!({
        "type": "record",
        "name": "ChangeEventHeader",
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings},
            {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols": CHANGE_TYPES}},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings},
            {"name": "diffFields", "type": strings},
            {"name": "changedFields", "type": strings},
        ],
    });
    let mut avro_fields =
        vec![json!({"name": "ChangeEventHeader", "type": header, "doc": "Data:ComplexValueType"})];
    let mut body = Vec::new();
    for (name, kind) in fields {
        if NEVER_SENT.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        let kind = if DATE_TIMES.contains(&name.as_str()) {
            Kind::DateTime
        } else {
            Kind::of_field(*kind)
        };
        avro_fields.push(json!({
            "name": name,
            "type": ["null", kind.avro_name()],
            "doc": kind.doc(),
            "default": null,
        }));
        body.push((name.clone(), kind));
    }
    let name = record_name(object);
    let json = json!({
        "type": "record",
        "name": name,
        "namespace": NAMESPACE,
        "fields": avro_fields,
    })
    .to_string();
    EventSchema::parse(&name, &json, body, Shape::Change)
}

/// The datum of a change event's CometD payload (`{"ChangeEventHeader": {…}, fields…}`).
pub(crate) fn encode(
    schema: &EventSchema,
    payload: &Map<String, Value>,
) -> Result<Vec<u8>, AvroError> {
    let empty = Map::new();
    let header = payload
        .get("ChangeEventHeader")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let text = |name: &str| {
        header
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |name: &str| header.get(name).and_then(Value::as_i64).unwrap_or_default();
    let change_type = text("changeType");
    let symbol = CHANGE_TYPES
        .iter()
        .position(|t| *t == change_type)
        .ok_or_else(|| AvroError::Encode(format!("unknown changeType {change_type:?}")))?;
    let names = |list: Option<&Value>| -> Vec<String> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let changed = names(header.get("changedFields"));
    // An update that sets fields to null carries them as nulls.
    let nulled: Vec<String> = if change_type == "UPDATE" {
        payload
            .iter()
            .filter(|(name, value)| value.is_null() && *name != "ChangeEventHeader")
            .map(|(name, _)| name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let strings = |items: Vec<String>| Avro::Array(items.into_iter().map(Avro::String).collect());
    let record_ids = names(header.get("recordIds"));
    let header = Avro::Record(vec![
        ("entityName".into(), Avro::String(text("entityName"))),
        ("recordIds".into(), strings(record_ids)),
        (
            "changeType".into(),
            Avro::Enum(symbol as u32, change_type.clone()),
        ),
        ("changeOrigin".into(), Avro::String(text("changeOrigin"))),
        (
            "transactionKey".into(),
            Avro::String(text("transactionKey")),
        ),
        (
            "sequenceNumber".into(),
            Avro::Int(i32::try_from(number("sequenceNumber")).unwrap_or(i32::MAX)),
        ),
        (
            "commitTimestamp".into(),
            Avro::Long(number("commitTimestamp")),
        ),
        ("commitNumber".into(), Avro::Long(number("commitNumber"))),
        ("commitUser".into(), Avro::String(text("commitUser"))),
        ("nulledFields".into(), strings(bitmap(schema, &nulled))),
        ("diffFields".into(), strings(Vec::new())),
        ("changedFields".into(), strings(bitmap(schema, &changed))),
    ]);
    let mut record = Vec::with_capacity(schema.fields.len() + 1);
    record.push(("ChangeEventHeader".to_owned(), header));
    for (name, kind) in &schema.fields {
        let value = match payload.get(name) {
            None | Some(Value::Null) => Avro::Null,
            Some(Value::String(text)) if *kind == Kind::DateTime => {
                parse_iso8601_millis(text).map_or(Avro::Null, Avro::Long)
            }
            Some(value) => to_avro(*kind, value),
        };
        let value = match value {
            Avro::Null => Avro::Union(0, Box::new(Avro::Null)),
            other => Avro::Union(1, Box::new(other)),
        };
        record.push((name.clone(), value));
    }
    schema.write(Avro::Record(record))
}

/// Salesforce's bitmap of `names`: one hex string, `0x` and upper-case digits, bit *i* set for
/// the schema's field *i* (the header is field 0, so body fields start at bit 1); no string when
/// no field is named.
fn bitmap(schema: &EventSchema, names: &[String]) -> Vec<String> {
    let positions: Vec<usize> = names
        .iter()
        .filter_map(|name| schema.fields.iter().position(|(f, _)| f == name))
        .map(|index| index + 1)
        .collect();
    let Some(&highest) = positions.iter().max() else {
        return Vec::new();
    };
    let mut bytes = vec![0u8; highest / 8 + 1];
    for position in positions {
        let from_end = position / 8;
        let at = bytes.len() - 1 - from_end;
        bytes[at] |= 1 << (position % 8);
    }
    let digits: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    vec![format!("0x{digits}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> EventSchema {
        let fields = [
            ("Name", FieldKind::Text),
            ("Industry", FieldKind::Text),
            ("Id", FieldKind::Text),
            ("NumberOfEmployees", FieldKind::Number),
            ("LastModifiedDate", FieldKind::Text),
        ]
        .map(|(n, k)| (n.to_owned(), k));
        change_schema("Account", &fields).unwrap()
    }

    #[test]
    fn the_schema_starts_with_the_header_and_leaves_the_id_out() {
        let schema = account();
        let json: Value = serde_json::from_str(&schema.json).unwrap();
        assert_eq!(json["name"], "AccountChangeEvent");
        assert_eq!(json["namespace"], NAMESPACE);
        assert_eq!(json["fields"][0]["name"], "ChangeEventHeader");
        let names: Vec<&str> = json["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "ChangeEventHeader",
                "Name",
                "Industry",
                "NumberOfEmployees",
                "LastModifiedDate"
            ]
        );
        assert_eq!(record_name("Invoice__c"), "Invoice__ChangeEvent");
        let stored = EventSchema::from_stored(&schema.event, &schema.json).unwrap();
        assert_eq!(stored.id, schema.id);
        assert_eq!(stored.shape, Shape::Change);
    }

    #[test]
    fn bitmaps_mark_schema_positions_in_upper_case_hex() {
        let schema = account();
        // Name is field 1, LastModifiedDate field 4: bits 1 and 4 → 0x12.
        let names = ["Name".to_owned(), "LastModifiedDate".to_owned()];
        assert_eq!(bitmap(&schema, &names), ["0x12"]);
        assert_eq!(bitmap(&schema, &[]), Vec::<String>::new());
        let many: Vec<(String, FieldKind)> = (0..20)
            .map(|i| (format!("F{i}__c"), FieldKind::Text))
            .collect();
        let wide = change_schema("Thing__c", &many).unwrap();
        // F10__c is field 11: bit 11 → 0x0800.
        assert_eq!(bitmap(&wide, &["F10__c".to_owned()]), ["0x0800"]);
        assert_eq!(
            bitmap(&wide, &["F19__c".to_owned(), "F0__c".to_owned()]),
            ["0x100002"]
        );
    }

    #[test]
    fn an_update_encodes_with_its_bitmaps_and_nulls() {
        let schema = account();
        let payload = json!({
            "ChangeEventHeader": {
                "entityName": "Account", "recordIds": ["001xx"], "changeType": "UPDATE",
                "changedFields": ["Industry", "LastModifiedDate"], "changeOrigin": "",
                "transactionKey": "k", "sequenceNumber": 1, "commitTimestamp": 1_700_000_000_000_i64,
                "commitNumber": 77, "commitUser": "005xx"
            },
            "Industry": null,
            "LastModifiedDate": "2026-12-06T10:00:00.000Z"
        });
        let datum = encode(&schema, payload.as_object().unwrap()).unwrap();
        let mut reader = &datum[..];
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&schema.schema)
            .build()
            .unwrap()
            .read_value(&mut reader)
            .unwrap();
        let Avro::Record(fields) = value else {
            panic!("not a record")
        };
        let Avro::Record(header) = &fields[0].1 else {
            panic!("no header")
        };
        let get = |name: &str| header.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(
            get("changedFields"),
            Avro::Array(vec![Avro::String("0x14".into())])
        );
        assert_eq!(
            get("nulledFields"),
            Avro::Array(vec![Avro::String("0x04".into())])
        );
        assert_eq!(get("changeType"), Avro::Enum(1, "UPDATE".into()));
        assert_eq!(fields[1].1, Avro::Union(0, Box::new(Avro::Null)));
        assert_eq!(
            fields[4].1,
            Avro::Union(1, Box::new(Avro::Long(1_796_551_200_000)))
        );
    }
}
