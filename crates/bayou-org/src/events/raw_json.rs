//! A JSON object read without copying it: its members' names, borrowed where they have no
//! escapes, and their values left as JSON text until asked for.
//!
//! Why: the Pub/Sub API turns each stored event (its CometD message, JSON) into an Avro datum.
//! Reading that message into a `serde_json::Map` allocates a string per name and per text
//! value and an index map per object; with one subscriber nothing shares that work, and a
//! profile of the server delivering 10,000 events/s put it at a third of the conversion
//! (docs/benchmarks.md). A datum needs only the schema's fields, each read once.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// Objects with more members than this are sorted by name once, then searched; smaller ones
/// are scanned.
const SCAN_MEMBERS: usize = 16;

/// A JSON object's members, as read.
pub struct RawObject<'a> {
    /// The object's JSON text.
    json: &'a str,
    /// Name and value text, in the order read (sorted by name, stably, when large).
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    sorted: bool,
}

impl<'a> RawObject<'a> {
    /// Reads `json`, which must be an object.
    pub fn parse(json: &'a str) -> Result<Self, serde_json::Error> {
        let Members(members) = serde_json::from_str(json)?;
        let mut object = RawObject {
            json,
            members,
            sorted: false,
        };
        if object.members.len() > SCAN_MEMBERS {
            object.members.sort_by(|a, b| a.0.cmp(&b.0));
            object.sorted = true;
        }
        Ok(object)
    }

    /// The value of member `name` (the last one, if the object repeats it, as `serde_json`
    /// keeps it).
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        if self.sorted {
            // Stable sort: of equal names, the last read is the last of its run.
            let end = self
                .members
                .partition_point(|(key, _)| key.as_ref() <= name);
            return end
                .checked_sub(1)
                .map(|last| &self.members[last])
                .filter(|(key, _)| key == name)
                .map(|(_, value)| *value);
        }
        self.members
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    }

    /// The object's JSON text, as read.
    pub fn json(&self) -> &'a str {
        self.json
    }

    /// Member `name` when it is a string.
    pub fn text(&self, name: &str) -> Option<Cow<'a, str>> {
        match Scalar::of_raw(self.get(name)?) {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// An object's members, in the order read.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Reader;
        impl<'de> Visitor<'de> for Reader {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Name(name), value)) = map.next_entry::<Name, &RawValue>()? {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Reader)
    }
}

/// A member name or string value, borrowed from the JSON when it has no escapes.
#[derive(Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// One JSON value, as an Avro field needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
    /// An array or object, as `serde_json` writes it compactly.
    Composite(String),
}

impl<'a> Scalar<'a> {
    pub(crate) fn of_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Scalar::Null,
            Value::Bool(flag) => Scalar::Bool(*flag),
            Value::Number(number) => Scalar::Number(number.clone()),
            Value::String(text) => Scalar::Text(Cow::Borrowed(text)),
            composite => Scalar::Composite(composite.to_string()),
        }
    }

    /// The value of JSON text that `serde_json` has already checked (a `RawValue` is valid
    /// JSON), told apart by its first character.
    pub(crate) fn of_raw(raw: &'a RawValue) -> Self {
        let json = raw.get();
        let parsed = match json.as_bytes().first() {
            Some(b'n') => return Scalar::Null,
            Some(b't') => return Scalar::Bool(true),
            Some(b'f') => return Scalar::Bool(false),
            Some(b'"') => serde_json::from_str::<Name>(json).map(|Name(text)| Scalar::Text(text)),
            Some(b'[' | b'{') => serde_json::from_str::<Value>(json)
                .map(|value| Scalar::Composite(value.to_string())),
            _ => serde_json::from_str::<Number>(json).map(Scalar::Number),
        };
        // Unreachable for a checked value; a value Avro cannot carry is null either way.
        parsed.unwrap_or(Scalar::Null)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map};

    use super::*;

    #[test]
    fn names_and_text_without_escapes_are_borrowed() {
        let object = RawObject::parse(r#"{"Plain__c":"ink","Esc\u0061ped":"a\"b"}"#).unwrap();
        assert!(matches!(
            object.text("Plain__c"),
            Some(Cow::Borrowed("ink"))
        ));
        assert_eq!(object.text("Escaped").as_deref(), Some("a\"b"));
        assert!(object.text("Missing").is_none());
    }

    #[test]
    fn a_repeated_member_reads_as_its_last_value_small_or_large() {
        let small = RawObject::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(small.get("a").unwrap().get(), "3");
        let mut large: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        large = format!("{{\"a\":1,{large}\"a\":3,\"z\":\"last\"}}");
        let large = RawObject::parse(&large).unwrap();
        assert!(large.sorted);
        assert_eq!(large.get("a").unwrap().get(), "3");
        assert_eq!(large.get("k17").unwrap().get(), "17");
        assert_eq!(large.text("z").as_deref(), Some("last"));
        assert!(large.get("k40").is_none());
        assert!(large.get("").is_none());
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert!(RawObject::parse("[1]").is_err());
        assert!(RawObject::parse("\"x\"").is_err());
        assert!(RawObject::parse("{\"a\":").is_err());
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..3)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Read from its JSON text, every member is what reading the whole text into a
        /// `serde_json::Map` gives.
        #[test]
        fn every_member_reads_as_serde_json_reads_it(
            members in prop::collection::vec((any::<String>(), any_json()), 0..30),
        ) {
            let json = Value::Object(members.into_iter().collect()).to_string();
            // What the text parses into (serde_json's float parsing may not give back the
            // last digit of a double written in memory).
            let map: Map<String, Value> = serde_json::from_str(&json).unwrap();
            let object = RawObject::parse(&json).unwrap();
            for (name, value) in &map {
                let raw = object.get(name).unwrap();
                prop_assert_eq!(Scalar::of_raw(raw), Scalar::of_value(value));
            }
            let absent = "\u{0}not a member";
            if !map.contains_key(absent) {
                prop_assert!(object.get(absent).is_none());
            }
        }
    }

    #[test]
    fn composites_read_as_serde_json_writes_them() {
        let object = RawObject::parse(r#"{"n": {"b": [1, 2.50, "x"], "a": null}}"#).unwrap();
        assert_eq!(
            Scalar::of_raw(object.get("n").unwrap()),
            Scalar::Composite(json!({"b": [1, 2.5, "x"], "a": null}).to_string())
        );
    }
}
