//! Generated queries parse to themselves and print back to text that parses to them again.

use proptest::prelude::*;

use super::render::{render_query, Style};
use super::strategies::query;
use crate::parse;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_queries_parse_to_themselves_and_print_back(q in query(), seed in 1u64..) {
        let text = render_query(&q, &mut Style(seed));
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.as_ref().err().map(|e| e.describe(&text)));
        let parsed = parsed.unwrap_or_else(|_| q.clone());
        prop_assert_eq!(&parsed, &q, "{:?}", text);
        let printed = parsed.to_string();
        prop_assert_eq!(parse(&printed).ok(), Some(q), "{:?}", printed);
    }
}
