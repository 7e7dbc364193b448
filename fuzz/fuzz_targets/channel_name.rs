//! Any string as a channel name or subscription: parsing and matching must never panic, and a
//! valid concrete channel is matched by every wildcard it lists.
#![no_main]

use bayou_protocol::{ChannelName, Subscription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = Subscription::parse(input);
    if let Ok(name) = ChannelName::parse(input) {
        if !name.is_wildcard() {
            for pattern in name.wildcards() {
                let pattern = ChannelName::parse(&pattern).expect("listed wildcard is valid");
                assert!(pattern.matches(input), "{pattern} should match {input}");
            }
        }
    }
});
