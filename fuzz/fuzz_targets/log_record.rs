//! Any stored event record (a torn write, a disk error, a format from another version):
//! decoding must never panic, and what decodes must encode back to the same bytes.
#![no_main]

use bayou_log::embedded::codec::{decode, encode_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    if let Ok(event) = decode(1, value) {
        let again = encode_value(
            event.created_ms,
            &event.channel,
            event.audience.as_ref(),
            &event.bytes,
        );
        let round = decode(1, &again).expect("a re-encoded record decodes");
        assert_eq!(round, event);
    }
});
