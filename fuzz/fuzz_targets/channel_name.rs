//! Any string as a channel name or subscription: parsing and matching must never panic, and a
//! valid concrete channel is matched by every wildcard it lists.
#![no_main]

use bayou_protocol::channel::pattern_matches;
use bayou_protocol::{ChannelName, Subscription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = Subscription::parse(input);
    if let Ok(name) = ChannelName::parse(input) {
        if !name.is_wildcard() {
            // A listed wildcard may be longer than a valid name (`/…/**` on a 511-byte channel),
            // so match the strings directly rather than re-parsing them.
            for pattern in name.wildcards() {
                assert!(pattern_matches(&pattern, input), "{pattern} should match {input}");
            }
        }
    }
});
