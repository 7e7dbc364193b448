//! Any request body: decoding must never panic, and whatever decodes must re-encode as JSON.
#![no_main]

use bayou_protocol::{decode_batch, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(batch) = decode_batch(body, 64) {
        for message in batch {
            let reply = match message {
                Ok(m) => Reply::success(m.channel, m.id).with_subscription(m.subscription.map(|s| s.raw)),
                Err(e) => Reply::failure(e.channel.unwrap_or_default(), e.id, e.error),
            };
            let encoded = reply.encode();
            assert!(serde_json_roundtrips(&encoded), "reply is not JSON");
        }
    }
});

fn serde_json_roundtrips(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| s.starts_with('{') && s.ends_with('}'))
}
