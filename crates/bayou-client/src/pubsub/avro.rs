//! Avro datums to JSON and back, with the schema `GetSchema` returned: what a Pub/Sub event
//! looks like to an application. Unions become their value, enums their symbol, `bytes` base64
//! is not needed (Salesforce's schemas have none). A change event's bitmap fields
//! (`changedFields`, `nulledFields`, `diffFields`) are decoded back into field names, as
//! Salesforce's own utilities do.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{RecordSchema, Schema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::{Map, Number, Value};

/// Decodes `datum` into a JSON object.
pub fn decode(schema: &Schema, datum: &[u8]) -> Result<Value, String> {
    let mut reader = datum;
    let value = GenericDatumReader::builder(schema)
        .build()
        .and_then(|decoder| decoder.read_value(&mut reader))
        .map_err(|e| format!("not a datum of the schema: {e}"))?;
    let mut json = to_json(value);
    if let (Value::Object(record), Schema::Record(RecordSchema { fields, .. })) =
        (&mut json, schema)
    {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if let Some(Value::Object(header)) = record.get_mut("ChangeEventHeader") {
            for bitmap in ["changedFields", "nulledFields", "diffFields"] {
                if let Some(value) = header.get_mut(bitmap) {
                    *value = field_names(value, &names);
                }
            }
        }
    }
    Ok(json)
}

/// Encodes a JSON object with `schema`: fields it lacks are null (a union's null branch), values
/// go to the first union branch they fit.
pub fn encode(schema: &Schema, fields: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let Schema::Record(record) = schema else {
        return Err("the schema is not a record".into());
    };
    let mut values = Vec::with_capacity(record.fields.len());
    for field in &record.fields {
        let value = fields.get(&field.name).unwrap_or(&Value::Null);
        let avro = to_avro(&field.schema, value)
            .ok_or_else(|| format!("{}: {value} does not fit {:?}", field.name, field.schema))?;
        values.push((field.name.clone(), avro));
    }
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|writer| writer.write_value_to_vec(Avro::Record(values)))
        .map_err(|e| e.to_string())
}

fn to_avro(schema: &Schema, value: &Value) -> Option<Avro> {
    match (schema, value) {
        (Schema::Union(union), value) => {
            union
                .variants()
                .iter()
                .enumerate()
                .find_map(|(index, branch)| {
                    let inner = to_avro(branch, value)?;
                    Some(Avro::Union(u32::try_from(index).ok()?, Box::new(inner)))
                })
        }
        (Schema::Null, Value::Null) => Some(Avro::Null),
        (Schema::Boolean, Value::Bool(b)) => Some(Avro::Boolean(*b)),
        (Schema::Int, Value::Number(n)) => Some(Avro::Int(i32::try_from(n.as_i64()?).ok()?)),
        (Schema::Long, Value::Number(n)) => Some(Avro::Long(n.as_i64()?)),
        (Schema::Double, Value::Number(n)) => Some(Avro::Double(n.as_f64()?)),
        (Schema::Float, Value::Number(n)) => Some(Avro::Float(n.as_f64()? as f32)),
        (Schema::String, Value::String(s)) => Some(Avro::String(s.clone())),
        (Schema::Array(array), Value::Array(items)) => Some(Avro::Array(
            items
                .iter()
                .map(|item| to_avro(&array.items, item))
                .collect::<Option<_>>()?,
        )),
        (Schema::Enum(e), Value::String(symbol)) => {
            let index = e.symbols.iter().position(|s| s == symbol)?;
            Some(Avro::Enum(u32::try_from(index).ok()?, symbol.clone()))
        }
        _ => None,
    }
}

fn to_json(value: Avro) -> Value {
    match value {
        Avro::Null => Value::Null,
        Avro::Boolean(b) => Value::Bool(b),
        Avro::Int(n) => Value::from(n),
        Avro::Long(n) => Value::from(n),
        Avro::Float(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Avro::Double(d) => Number::from_f64(d).map_or(Value::Null, Value::Number),
        Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
        Avro::Union(_, inner) => to_json(*inner),
        Avro::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Avro::Map(entries) => {
            Value::Object(entries.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
        Avro::Record(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
        Avro::Bytes(bytes) | Avro::Fixed(_, bytes) => {
            Value::Array(bytes.into_iter().map(Value::from).collect())
        }
        _ => Value::Null,
    }
}

/// The names a bitmap field marks: its first string is `0x` and hex digits, bit *i* for field
/// *i*. (Nested `{parent}-{bitmap}` entries for compound fields are kept as they are.)
fn field_names(bitmap: &Value, names: &[&str]) -> Value {
    let Some(items) = bitmap.as_array() else {
        return bitmap.clone();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.as_str().unwrap_or_default();
        match (i, text.strip_prefix("0x")) {
            (0, Some(hex)) => {
                let bits = hex.chars().rev().filter_map(|c| c.to_digit(16));
                for (nibble_index, nibble) in bits.enumerate() {
                    for bit in 0..4 {
                        if nibble & (1 << bit) != 0 {
                            if let Some(name) = names.get(nibble_index * 4 + bit) {
                                out.push(Value::String((*name).to_owned()));
                            }
                        }
                    }
                }
            }
            _ => out.push(item.clone()),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_a_platform_event_and_names_bitmap_fields() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Low_Ink__e","namespace":"com.sforce.eventbus","fields":[
            {"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"},
            {"name":"Model__c","type":["null","string"],"default":null}]}"#,
        )
        .unwrap();
        let fields = json!({"CreatedDate": 5, "CreatedById": "005", "Model__c": "XZO"});
        let datum = encode(&schema, fields.as_object().unwrap()).unwrap();
        assert_eq!(decode(&schema, &datum).unwrap(), fields);
        let names = ["ChangeEventHeader", "Name", "Phone", "Industry"];
        assert_eq!(
            field_names(&json!(["0x0A"]), &names),
            json!(["Name", "Industry"])
        );
        assert_eq!(field_names(&json!([]), &names), json!([]));
        assert!(decode(&schema, &[0xff]).is_err());
    }
}
