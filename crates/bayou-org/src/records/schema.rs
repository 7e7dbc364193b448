//! Field types, inferred: the first non-null value a field of an object receives fixes its
//! type (text, number or boolean), and later values of another type are refused with
//! `INVALID_TYPE_ON_FIELD_IN_RECORD`, as Salesforce refuses a value that does not fit a field.
//! PushTopic's fields have their documented types. The inferred types are rebuilt from the
//! stored records at start.

use std::collections::HashMap;

use serde_json::Value;

use super::Fields;
use crate::rest::errors::RestError;

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldKind {
    Text,
    Number,
    Boolean,
}

impl FieldKind {
    /// The kind of a JSON value; `None` for null (which fits every field).
    pub fn of(value: &Value) -> Option<Self> {
        match value {
            Value::String(_) => Some(FieldKind::Text),
            Value::Number(_) => Some(FieldKind::Number),
            Value::Bool(_) => Some(FieldKind::Boolean),
            _ => None,
        }
    }
}

const PUSH_TOPIC: &[(&str, FieldKind)] = &[
    ("Name", FieldKind::Text),
    ("Query", FieldKind::Text),
    ("ApiVersion", FieldKind::Number),
    ("Description", FieldKind::Text),
    ("NotifyForFields", FieldKind::Text),
    ("NotifyForOperationCreate", FieldKind::Boolean),
    ("NotifyForOperationUpdate", FieldKind::Boolean),
    ("NotifyForOperationDelete", FieldKind::Boolean),
    ("NotifyForOperationUndelete", FieldKind::Boolean),
    ("IsActive", FieldKind::Boolean),
];

/// Field kinds per object, keyed by the lower-cased field name (Salesforce's names are
/// case-insensitive), with the spelling the field was first written with.
#[derive(Debug, Default)]
pub struct Schema {
    objects: HashMap<String, HashMap<String, (String, FieldKind)>>,
}

/// Most custom objects an org may have (Salesforce's Unlimited Edition allocation).
const MAX_CUSTOM_OBJECTS: usize = 2_000;

impl Schema {
    /// A schema knowing PushTopic's fields.
    pub fn new() -> Self {
        let mut schema = Self::default();
        let fields = PUSH_TOPIC
            .iter()
            .map(|(name, kind)| (name.to_ascii_lowercase(), ((*name).to_owned(), *kind)))
            .collect();
        schema.objects.insert("PushTopic".into(), fields);
        schema
    }

    /// Checks the values of `fields` against the known kinds of `object`'s fields, and that a
    /// record of a custom object the org does not have yet keeps the org within Salesforce's
    /// 2,000 custom objects.
    pub fn check(&self, object: &str, fields: &Fields) -> Result<(), RestError> {
        let Some(known) = self.objects.get(object) else {
            let custom = self.objects.keys().filter(|o| o.ends_with("__c")).count();
            if object.ends_with("__c") && custom >= MAX_CUSTOM_OBJECTS {
                return Err(RestError::bad_request(
                    "LIMIT_EXCEEDED",
                    format!("The org already has {MAX_CUSTOM_OBJECTS} custom objects"),
                ));
            }
            return Ok(());
        };
        for (name, value) in fields {
            let expected = known.get(&name.to_ascii_lowercase()).map(|(_, kind)| kind);
            let (Some(kind), Some(expected)) = (FieldKind::of(value), expected) else {
                continue;
            };
            if kind != *expected {
                // Salesforce accepts numbers in text fields.
                if *expected == FieldKind::Text && kind == FieldKind::Number {
                    continue;
                }
                return Err(RestError::bad_request(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{name}: value not of required type: {value}"),
                )
                .on_fields(&[name]));
            }
        }
        Ok(())
    }

    /// The (lower-cased) names of `object`'s known fields, sorted.
    pub fn field_names(&self, object: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects
            .get(object)
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// `object`'s known fields as first written, with their kinds, sorted by name.
    pub fn fields(&self, object: &str) -> Vec<(String, FieldKind)> {
        let mut fields: Vec<(String, FieldKind)> = self
            .objects
            .get(object)
            .map(|fields| fields.values().cloned().collect())
            .unwrap_or_default();
        fields.sort();
        fields
    }

    /// The spelling of the known object named `object`, whatever its case.
    pub fn spelling_of(&self, object: &str) -> Option<String> {
        if self.objects.contains_key(object) {
            return Some(object.to_owned());
        }
        self.objects
            .keys()
            .find(|known| known.eq_ignore_ascii_case(object))
            .cloned()
    }

    /// The custom objects (`Name__c`) the org has records of, sorted.
    pub fn custom_objects(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects
            .keys()
            .filter(|o| o.ends_with("__c"))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Learns the kinds of fields seen for the first time.
    pub fn learn(&mut self, object: &str, fields: &Fields) {
        let known = self.objects.entry(object.to_owned()).or_default();
        for (name, value) in fields {
            if let Some(kind) = FieldKind::of(value) {
                known
                    .entry(name.to_ascii_lowercase())
                    .or_insert_with(|| (name.clone(), kind));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_objects_stop_at_salesforces_allocation() {
        let mut schema = Schema::new();
        let fields = Fields::new();
        for i in 0..MAX_CUSTOM_OBJECTS {
            schema.learn(&format!("Object{i}__c"), &fields);
        }
        let refused = schema.check("OneMore__c", &fields).unwrap_err();
        assert!(
            format!("{refused:?}").contains("LIMIT_EXCEEDED"),
            "{refused:?}"
        );
        assert!(
            schema.check("Object7__c", &fields).is_ok(),
            "known objects go on"
        );
        assert!(
            schema.check("Account", &fields).is_ok(),
            "standard objects do not count"
        );
    }
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn first_value_fixes_the_type() {
        let mut schema = Schema::new();
        schema.learn(
            "Account",
            &fields(json!({"Name": "x", "Employees": 3, "Vip": true, "Note": null})),
        );
        assert!(schema
            .check(
                "Account",
                &fields(json!({"name": "y", "Employees": 4, "Note": 5}))
            )
            .is_ok());
        let err = schema
            .check("Account", &fields(json!({"Employees": "many"})))
            .unwrap_err();
        assert_eq!(err.code, "INVALID_TYPE_ON_FIELD_IN_RECORD");
        assert_eq!(
            err.message,
            "Employees: value not of required type: \"many\""
        );
        assert!(schema.check("Account", &fields(json!({"Vip": 1}))).is_err());
        assert!(
            schema
                .check("Account", &fields(json!({"Name": 12})))
                .is_ok(),
            "numbers fit text"
        );
        assert!(schema
            .check("PushTopic", &fields(json!({"IsActive": "yes"})))
            .is_err());
    }
}
