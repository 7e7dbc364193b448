//! Any response body or frame the bench reads: its scanner must never panic, and wherever
//! serde_json can read the body as an array of message objects the scanner reads the same.
#![no_main]

use bayou_bench::{scan, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let scanned = scan::messages(body);
    if let Ok(messages) = &scanned {
        for message in messages {
            if let Some(data) = message.data {
                let _ = scan::stamp(data);
            }
        }
    }
    let objects = serde_json::from_slice::<Vec<serde_json::Value>>(body)
        .is_ok_and(|values| values.iter().all(serde_json::Value::is_object));
    if objects {
        if let Ok(expected) = wire::decode_with_serde(body) {
            assert_eq!(scanned.ok(), Some(expected));
        }
    }
});
