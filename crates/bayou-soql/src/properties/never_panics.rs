//! Arbitrary strings and SOQL token soup: parsing never panics, errors point inside the input,
//! and whatever parses prints back to text that re-parses to an equal query.

use proptest::prelude::*;

use crate::parse;
use crate::subscription_filter::parse_subscription_filter;

#[rustfmt::skip]
const VOCABULARY: &[&str] = &[
    "SELECT", "select", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
    "OFFSET", "ASC", "DESC", "NULLS", "FIRST", "LAST", "GROUP", "HAVING", "TYPEOF", "COUNT", "(",
    ")", ",", ".", ":", "&", "=", "!=", "<>", "<", "<=", ">", ">=", "Id", "Name", "Account",
    "Status__c", "'x'", "'a\\'b'", "'%_\\%'", "'", "\\", "5", "-3", "1.5", "007", "2024-01-31",
    "2024-01-31T10:00:00Z", "2024-01-31T10:00:00.5+01:00", "2024-02-30", "TODAY", "LAST_N_DAYS",
    "LAST_N_DAYS:3", "NEXT_N_DAYS", "LAST_QUARTER", "null", "true", "FALSE",
    "99999999999999999999", "\n", "é", "#",
];

fn soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(VOCABULARY), 0..40),
        any::<bool>(),
    )
        .prop_map(|(words, tight)| words.join(if tight { "" } else { " " }))
}

/// If the text parses, its canonical form must parse to an equal query, and print the same.
fn check_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(query) = parse(text) {
        let printed = query.to_string();
        let reparsed = parse(&printed);
        prop_assert!(
            reparsed.is_ok(),
            "{text:?} printed as {printed:?}: {reparsed:?}"
        );
        let reparsed = reparsed.unwrap_or_else(|_| query.clone());
        prop_assert_eq!(&reparsed, &query, "{:?} printed as {:?}", text, printed);
        prop_assert_eq!(reparsed.to_string(), printed);
        let _ = query.validate_for_pushtopic();
    }
    Ok(())
}

proptest! {
    #[test]
    fn never_panics_on_any_string(text in any::<String>()) {
        if let Err(e) = parse(&text) {
            let _ = e.describe(&text);
        }
        let _ = parse_subscription_filter(&text);
        check_round_trip(&text)?;
    }

    #[test]
    fn never_panics_on_token_soup(text in soup()) {
        check_round_trip(&text)?;
        let _ = parse_subscription_filter(&text);
    }

    #[test]
    fn never_panics_on_token_soup_after_a_valid_prefix(
        prefix in prop::sample::select(&[
            "SELECT Id FROM Account WHERE ",
            "SELECT Id, ",
            "SELECT Id FROM Account ",
            "SELECT Id FROM Account WHERE Name IN (",
            "SELECT Id FROM Account WHERE (Name = 'x' OR ",
        ][..]),
        text in soup(),
    ) {
        let text = format!("{prefix}{text}");
        if let Err(e) = parse(&text) {
            prop_assert!(e.position <= text.len());
            let _ = e.describe(&text);
        }
        check_round_trip(&text)?;
    }
}
