//! Deciding whether a record satisfies a WHERE condition: what a PushTopic does with every
//! record change.
//!
//! Records are JSON objects as the org stores them. Field names are matched case-insensitively
//! (Salesforce field names are) and a missing field is null. The per-type rules live in
//! `compare.rs`; this file only walks the tree. The walk recurses, which is safe for parsed
//! conditions: chains are flat and parenthesis nesting is capped.

use serde_json::{Map, Value};

use crate::ast::{CompareOp, Condition};
use crate::compare::holds;

/// What evaluation needs from the outside world: the current time, for date literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalContext {
    /// "Now", in milliseconds since the Unix epoch (UTC).
    pub now_ms: i64,
}

impl EvalContext {
    pub fn at(now_ms: i64) -> Self {
        Self { now_ms }
    }
}

/// Whether `record` satisfies `condition`.
///
/// `!=` and `NOT IN` are exact negations of `=` and `IN`, so a null or missing field satisfies
/// `Name != 'x'` and `Name NOT IN ('x')`. LIKE only ever matches string values.
pub fn evaluate(condition: &Condition, record: &Map<String, Value>, ctx: &EvalContext) -> bool {
    match condition {
        Condition::And(items) => items.iter().all(|c| evaluate(c, record, ctx)),
        Condition::Or(items) => items.iter().any(|c| evaluate(c, record, ctx)),
        Condition::Compare { field, op, value } => {
            holds(field_value(record, &field.name), *op, value, ctx)
        }
        Condition::In {
            field,
            values,
            negated,
        } => {
            let actual = field_value(record, &field.name);
            let found = values.iter().any(|v| holds(actual, CompareOp::Eq, v, ctx));
            found != *negated
        }
        Condition::Like { field, pattern } => match field_value(record, &field.name) {
            Some(Value::String(s)) => pattern.matches(s),
            _ => false,
        },
    }
}

/// The record's value for `name`, matching the key case-insensitively (an exact match first).
pub fn field_value<'r>(record: &'r Map<String, Value>, name: &str) -> Option<&'r Value> {
    record.get(name).or_else(|| {
        record
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;
    use serde_json::json;

    fn matches(where_clause: &str, record: Value) -> bool {
        let query = format!("SELECT Id FROM Account WHERE {where_clause}");
        let condition = match parse(&query) {
            Ok(q) => q.condition,
            Err(e) => panic!("{}", e.describe(&query)),
        };
        let Value::Object(record) = record else {
            panic!("records are objects");
        };
        // 2024-01-31T10:00:00Z
        let ctx = EvalContext::at(1_706_695_200_000);
        condition.is_some_and(|c| evaluate(&c, &record, &ctx))
    }

    #[test]
    fn fields_are_found_case_insensitively_and_missing_is_null() {
        assert!(matches(
            "industry = 'Energy'",
            json!({"Industry": "energy"})
        ));
        assert!(matches("Industry = null", json!({"Name": "x"})));
        assert!(matches("Industry != 'Energy'", json!({})));
        assert!(!matches("Industry < 'Energy'", json!({})));
    }

    #[test]
    fn and_or_and_parentheses() {
        let record = json!({"A": 1, "B": 2, "C": 3});
        assert!(matches("A = 1 AND B = 2", record.clone()));
        assert!(!matches("A = 1 AND B = 3", record.clone()));
        assert!(matches("A = 9 OR B = 2 AND C = 3", record.clone()));
        assert!(!matches("(A = 9 OR B = 2) AND C = 4", record.clone()));
        assert!(matches("A = 1 AND (B = 9 OR C = 3)", record));
    }

    #[test]
    fn in_and_not_in() {
        let record = json!({"Industry": "Media", "Amount": 5});
        assert!(matches("Industry IN ('Energy', 'media')", record.clone()));
        assert!(!matches(
            "Industry NOT IN ('Energy', 'media')",
            record.clone()
        ));
        assert!(matches("Amount IN (1, 5.0)", record.clone()));
        assert!(matches("Missing NOT IN ('x')", record.clone()));
        assert!(matches("Missing IN ('x', null)", record.clone()));
        assert!(!matches("Missing IN ('x')", record));
    }

    #[test]
    fn like() {
        let record = json!({"Name": "Acme Corp", "Amount": 100});
        assert!(matches("Name LIKE 'acme%'", record.clone()));
        assert!(matches("Name LIKE '%CORP'", record.clone()));
        assert!(matches("Name LIKE 'Acme_Corp'", record.clone()));
        assert!(!matches("Name LIKE 'Acme'", record.clone()));
        assert!(!matches("Amount LIKE '1%'", record.clone()));
        assert!(!matches("Missing LIKE '%'", record));
        assert!(matches("Code LIKE '10\\%'", json!({"Code": "10%"})));
        assert!(!matches("Code LIKE '10\\%'", json!({"Code": "100"})));
    }

    #[test]
    fn dates_against_datetime_fields() {
        let record = json!({"CreatedDate": "2024-01-31T09:15:00.000+0000"});
        assert!(matches("CreatedDate = TODAY", record.clone()));
        assert!(matches("CreatedDate > YESTERDAY", record.clone()));
        assert!(!matches("CreatedDate > TODAY", record.clone()));
        assert!(matches("CreatedDate < TOMORROW", record.clone()));
        assert!(matches("CreatedDate = LAST_N_DAYS:3", record.clone()));
        assert!(matches("CreatedDate = THIS_MONTH", record.clone()));
        assert!(matches(
            "CreatedDate >= 2024-01-31T09:15:00Z",
            record.clone()
        ));
        assert!(!matches(
            "CreatedDate > 2024-01-31T09:15:00Z",
            record.clone()
        ));
        assert!(matches("CreatedDate = 2024-01-31", record));
    }

    #[test]
    fn booleans_and_numbers() {
        let record = json!({"IsActive__c": true, "Amount": "1500.50"});
        assert!(matches("IsActive__c = TRUE", record.clone()));
        assert!(matches("IsActive__c != false", record.clone()));
        assert!(matches("Amount > 1500", record.clone()));
        assert!(matches("Amount <= 1500.5", record));
    }
}
