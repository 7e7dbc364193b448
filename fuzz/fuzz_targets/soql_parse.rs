//! Any string as a SOQL query or subscription filter: parsing never panics, every error points
//! inside the input, and an accepted query prints as canonical SOQL that re-parses to an equal
//! query and prints identically. Accepted conditions are also evaluated, which must not panic.
#![no_main]

use bayou_soql::{evaluate, parse, parse_subscription_filter, EvalContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    match parse(input) {
        Ok(query) => {
            let printed = query.to_string();
            let reparsed = match parse(&printed) {
                Ok(q) => q,
                Err(e) => panic!("{input:?} printed as {printed:?}, which fails: {e}"),
            };
            assert_eq!(reparsed, query, "{input:?} printed as {printed:?}");
            assert_eq!(reparsed.to_string(), printed);
            let _ = query.validate_for_pushtopic();
            let _ = query.where_fields();
            if let Some(condition) = &query.condition {
                let record = serde_json::Map::new();
                let _ = evaluate(condition, &record, &EvalContext::default());
                let _ = evaluate(condition, &record, &EvalContext { now_ms: i64::MAX });
            }
        }
        Err(e) => {
            assert!(e.position <= input.len(), "{e:?} beyond {}", input.len());
            let _ = e.describe(input);
        }
    }
    if let Err(e) = parse_subscription_filter(input) {
        assert!(e.position <= input.len());
    }
});
