//! Reading and evaluating the filter text of a filtered PushTopic subscription — the part after
//! `?` in `/topic/MyTopic?Industry='Energy'&ShippingCity='San Francisco'`.
//!
//! The text after `?` is `field=literal` terms joined by `&`, and `&` means OR: an event is
//! delivered when any one term holds. Values are SOQL literals read by the query parser, so
//! `'A&B'` is one quoted value, not two terms. Checking that each field is in the topic's query
//! (Salesforce's `Query fields … do not exist on the topic entity`) is the org's job; it knows
//! the topic.

use serde_json::{Map, Value};

use crate::ast::{CompareOp, Condition, Ident, Span};
use crate::compare::holds;
use crate::errors::SoqlError;
use crate::eval::{field_value, EvalContext};
use crate::lexer::TokenKind;
use crate::literal::Literal;
use crate::parser::Parser;

/// Reads the filter text after `?`. Positions in errors are byte offsets into `text`.
pub fn parse_subscription_filter(text: &str) -> Result<Vec<(String, Literal)>, SoqlError> {
    let mut parser = Parser::new(text, "filter")?;
    let mut terms = Vec::new();
    loop {
        let field = parser.field_name("a field name")?;
        parser.expect(TokenKind::Op(CompareOp::Eq), "'='")?;
        let value = parser.value()?;
        terms.push((field.name, value));
        if parser.eat(TokenKind::Amp).is_none() {
            break;
        }
    }
    if parser.peek().kind != TokenKind::Eof {
        return Err(parser.unexpected("'&' or end of filter"));
    }
    Ok(terms)
}

/// Whether a record passes the filter: any term's field equals its value (an empty filter
/// passes everything).
pub fn filter_matches(
    filter: &[(String, Literal)],
    record: &Map<String, Value>,
    ctx: &EvalContext,
) -> bool {
    filter.is_empty()
        || filter
            .iter()
            .any(|(field, value)| holds(field_value(record, field), CompareOp::Eq, value, ctx))
}

/// The filter as a condition (`a = x OR b = y`), e.g. to print it. `None` when empty.
pub fn filter_condition(filter: &[(String, Literal)]) -> Option<Condition> {
    let mut terms: Vec<Condition> = filter
        .iter()
        .map(|(field, value)| Condition::Compare {
            field: Ident::new(field.clone(), Span::default()),
            op: CompareOp::Eq,
            value: value.clone(),
        })
        .collect();
    match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(Condition::Or(terms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn terms(text: &str) -> Vec<(String, String)> {
        match parse_subscription_filter(text) {
            Ok(terms) => terms.into_iter().map(|(f, v)| (f, v.to_string())).collect(),
            Err(e) => panic!("{}", e.describe(text)),
        }
    }

    fn pair(f: &str, v: &str) -> (String, String) {
        (f.to_string(), v.to_string())
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(
            terms("Industry='Energy'&ShippingCity='San Francisco'"),
            [
                pair("Industry", "'Energy'"),
                pair("ShippingCity", "'San Francisco'")
            ]
        );
    }

    #[test]
    fn values_are_soql_literals() {
        assert_eq!(
            terms("Name='A&B' & Amount = 5&IsActive__c=true&Closed__c=null&D=2024-01-31"),
            [
                pair("Name", "'A&B'"),
                pair("Amount", "5"),
                pair("IsActive__c", "true"),
                pair("Closed__c", "null"),
                pair("D", "2024-01-31"),
            ]
        );
    }

    #[test]
    fn malformed_filters() {
        let error = |text: &str| {
            parse_subscription_filter(text)
                .err()
                .map(|e| (e.to_string(), e.position))
        };
        assert_eq!(
            error(""),
            Some((
                "MALFORMED_QUERY, unexpected end of filter, expected a field name".into(),
                0
            ))
        );
        assert_eq!(
            error("Industry='Energy'&"),
            Some((
                "MALFORMED_QUERY, unexpected end of filter, expected a field name".into(),
                18
            ))
        );
        assert_eq!(
            error("Industry!='Energy'"),
            Some((
                "MALFORMED_QUERY, unexpected token: '!=', expected '='".into(),
                8
            ))
        );
        assert_eq!(
            error("Industry=Energy"),
            Some((
                "MALFORMED_QUERY, unexpected token: 'Energy', expected a value (a quoted string, number, date, date literal, true, false or null)".into(),
                9
            ))
        );
        assert_eq!(
            error("Industry='Energy' Name='x'"),
            Some((
                "MALFORMED_QUERY, unexpected token: 'Name', expected '&' or end of filter".into(),
                18
            ))
        );
        assert_eq!(
            error("Account.Industry='Energy'"),
            Some(("INVALID_FIELD, relationships are not supported".into(), 0))
        );
    }

    #[test]
    fn ampersand_means_or() {
        let filter = parse_subscription_filter("Industry='Energy'&ShippingCity='San Francisco'")
            .unwrap_or_default();
        let ctx = EvalContext::default();
        let record = |v: Value| match v {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        assert!(filter_matches(
            &filter,
            &record(json!({"Industry": "energy", "ShippingCity": "Oslo"})),
            &ctx
        ));
        assert!(filter_matches(
            &filter,
            &record(json!({"Industry": "Media", "shippingcity": "San Francisco"})),
            &ctx
        ));
        assert!(!filter_matches(
            &filter,
            &record(json!({"Industry": "Media"})),
            &ctx
        ));
        assert!(filter_matches(&[], &record(json!({})), &ctx));
        assert_eq!(
            filter_condition(&filter).map(|c| c.to_string()).as_deref(),
            Some("Industry = 'Energy' OR ShippingCity = 'San Francisco'")
        );
        assert!(filter_condition(&[]).is_none());
    }
}
