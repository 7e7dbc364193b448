//! Property tests: the decoder never panics and reads back what was encoded; the wildcard
//! index (`wildcards`) agrees with direct pattern matching.

use proptest::prelude::*;
use serde_json::json;

use crate::channel::{pattern_matches, ChannelName};
use crate::message::decode_batch;

fn segment() -> impl Strategy<Value = String> {
    "[a-c]{1,2}"
}

fn channel() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|s| format!("/{}", s.join("/")))
}

fn pattern() -> impl Strategy<Value = String> {
    (channel(), 0..3u8).prop_map(|(c, w)| match w {
        0 => c,
        1 => format!("{c}/*"),
        _ => format!("{c}/**"),
    })
}

/// A direct, segment-by-segment reading of the Bayeux wildcard rules.
fn reference_match(pattern: &str, channel: &str) -> bool {
    let p: Vec<&str> = pattern[1..].split('/').collect();
    let c: Vec<&str> = channel[1..].split('/').collect();
    match p.last() {
        Some(&"**") => c.len() >= p.len() && p[..p.len() - 1] == c[..p.len() - 1],
        Some(&"*") => c.len() == p.len() && p[..p.len() - 1] == c[..p.len() - 1],
        _ => p == c,
    }
}

proptest! {
    #[test]
    fn decoder_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_batch(&body, 100);
    }

    #[test]
    fn decoder_never_panics_on_json_shaped_text(
        body in r#"[\[\]{}",:0-9a-z/ ]{0,64}"#
    ) {
        let _ = decode_batch(body.as_bytes(), 100);
    }

    #[test]
    fn decoder_reads_back_generated_messages(
        channel in channel(),
        id in "[0-9a-z]{1,6}",
        client in proptest::option::of("[0-9a-z]{10,30}"),
        subs in prop::collection::vec(pattern(), 0..3),
        timeout in proptest::option::of(0u64..200_000),
        text in ".{0,20}",
    ) {
        let mut m = json!({"channel": channel, "id": id, "data": {"text": text}});
        if let Some(c) = &client { m["clientId"] = json!(c); }
        if !subs.is_empty() { m["subscription"] = json!(subs); }
        if let Some(t) = timeout { m["advice"] = json!({"timeout": t}); }
        let body = serde_json::to_vec(&json!([m])).unwrap();
        let batch = decode_batch(&body, 100).unwrap();
        let decoded = batch[0].as_ref().unwrap();
        prop_assert_eq!(&decoded.channel, &channel);
        prop_assert_eq!(decoded.id.as_ref().unwrap().get(), format!("\"{id}\""));
        prop_assert_eq!(&decoded.client_id, &client);
        let data: serde_json::Value = serde_json::from_str(decoded.data.as_ref().unwrap().get()).unwrap();
        prop_assert_eq!(&data["text"], &json!(text));
        if subs.is_empty() {
            prop_assert!(decoded.subscription.is_none());
        } else {
            prop_assert_eq!(&decoded.subscription.as_ref().unwrap().channels, &subs);
        }
        prop_assert_eq!(decoded.advice.and_then(|a| a.timeout), timeout);
    }

    #[test]
    fn matcher_agrees_with_reference(p in pattern(), c in channel()) {
        prop_assert_eq!(pattern_matches(&p, &c), reference_match(&p, &c));
    }

    #[test]
    fn wildcards_list_exactly_the_matching_patterns(p in pattern(), c in channel()) {
        let name = ChannelName::parse(&c).unwrap();
        let listed = name.wildcards().contains(&p) || p == c;
        prop_assert_eq!(listed, pattern_matches(&p, &c));
    }

    #[test]
    fn channel_parser_never_panics(s in ".{0,40}") {
        let _ = ChannelName::parse(&s);
    }
}
