//! Any REST request body — an sObject create or update, a composite request, a StreamingChannel
//! push — through the decoding and the checks a write runs before it touches the store: field
//! names and values, record types, PushTopic records (their SOQL included), StreamingChannel
//! records, platform event fields. Nothing may panic; every refusal must be a Salesforce-shaped
//! client error (a 4xx status, an `UPPER_CASE` error code, a message), never a 500; and what is
//! accepted must respect the limits the checks promise.
#![no_main]

use std::collections::BTreeMap;

use bayou_org::events::EventType;
use bayou_org::ids;
use bayou_org::pushtopic::PushTopic;
use bayou_org::records::schema::Schema;
use bayou_org::records::{objects, write, Fields, SYSTEM_FIELDS};
use bayou_org::rest::composite::{subrequests, SubRequest};
use bayou_org::rest::errors::RestError;
use bayou_org::rest::sobjects::parse_body;
use bayou_org::streaming_channel::{self, push};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    // `POST sobjects/{Type}` and `PATCH sobjects/{Type}/{Id}`.
    match parse_body(body) {
        Ok(fields) => {
            for object in [
                "Account",
                "PushTopic",
                "StreamingChannel",
                "Invoice__c",
                "Low_Ink__e",
            ] {
                create(object, &fields);
            }
        }
        Err(e) => shaped(&e),
    }
    // `POST composite`.
    match subrequests(body) {
        Ok(subs) => {
            assert!(subs.len() <= 25);
            for sub in &subs {
                match SubRequest::parse(sub) {
                    Ok(SubRequest::Create { object, fields }) => create(object, &fields),
                    Ok(SubRequest::Update { object, id, fields }) => {
                        let _ = ids::to_18(id);
                        create(object, &fields);
                    }
                    Ok(SubRequest::Get { object, id } | SubRequest::Delete { object, id }) => {
                        let _ = objects::lookup(object);
                        let _ = ids::to_18(id);
                    }
                    Err(e) => shaped(&e),
                }
            }
        }
        Err(e) => shaped(&e),
    }
    // `POST sobjects/StreamingChannel/{Id}/push`.
    match push::parse(body) {
        Ok(pushes) => {
            assert!(!pushes.is_empty());
            for push in pushes {
                assert!(push.payload.chars().count() <= push::MAX_PAYLOAD_CHARS);
                assert!(push.user_ids.len() <= push::MAX_USER_IDS);
                for (written, full) in &push.user_ids {
                    assert_eq!(ids::to_18(written).as_ref(), Some(full));
                    assert_eq!(ids::to_18(full).as_ref(), Some(full));
                }
            }
        }
        Err(e) => shaped(&e),
    }
});

/// What `Org::create_record` (or `publish_event`, for `__e`) checks before the store, in its
/// order; an update checks the same on the merged record, here the body alone.
fn create(object: &str, input: &Fields) {
    if object.to_ascii_lowercase().ends_with("__e") {
        if let Err(e) = low_ink().check(input) {
            shaped(&e);
        }
        return;
    }
    let Some((object, prefix)) = objects::lookup(object) else {
        return;
    };
    if let Err(e) = write::check_input(input) {
        shaped(&e);
        return;
    }
    for (name, value) in input {
        assert!(objects::valid_field_name(name), "{name:?} accepted");
        assert!(
            !SYSTEM_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(name)),
            "system field {name:?} accepted"
        );
        match value {
            Value::Object(_) | Value::Array(_) => panic!("{name}: {value} accepted"),
            Value::String(s) => assert!(s.len() <= 131_072),
            _ => {}
        }
    }
    let id = ids::to_18(&format!("{prefix}5g0000000001")).expect("a valid id");
    let mut fields = Fields::new();
    fields.insert("Id".into(), Value::String(id.clone()));
    fields.extend(input.clone());
    for name in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        fields.insert(name.into(), "2025-01-01T00:00:00.000+0000".into());
    }
    for name in ["CreatedById", "LastModifiedById"] {
        fields.insert(name.into(), "005000000000001AAA".into());
    }
    fields.insert("IsDeleted".into(), Value::Bool(false));
    if object == "PushTopic" {
        write::apply_pushtopic_defaults(&mut fields);
    }
    let mut schema = Schema::new();
    if let Err(e) = schema.check(&object, &fields) {
        shaped(&e);
        return;
    }
    let written = match object.as_str() {
        "PushTopic" => PushTopic::from_record(&id, &fields).map(|topic| {
            assert_eq!(topic.channel(), format!("/topic/{}", topic.name));
            assert!(!topic.name.is_empty() && topic.name.chars().count() <= 25);
        }),
        "StreamingChannel" => streaming_channel::from_record(&id, &fields).map(|channel| {
            assert!(streaming_channel::validate_name(&channel.name).is_ok());
        }),
        _ => Ok(()),
    };
    if let Err(e) = written {
        shaped(&e);
        return;
    }
    schema.learn(&object, &fields);
    assert!(
        serde_json::to_vec(&fields).is_ok(),
        "a record that cannot be stored"
    );
}

/// The platform event type of Salesforce's examples.
fn low_ink() -> EventType {
    EventType {
        name: "Low_Ink__e".into(),
        fields: BTreeMap::from([
            ("Printer_Model__c".into(), "text".into()),
            ("Ink_Percentage__c".into(), "number".into()),
            ("Urgent__c".into(), "boolean".into()),
        ]),
    }
}

/// A refusal as Salesforce writes one: `[{"message","errorCode","fields"}]` with a 4xx status.
fn shaped(e: &RestError) {
    assert!(e.status.is_client_error(), "{e:?}");
    assert!(
        !e.code.is_empty() && e.code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
        "{e:?}"
    );
    assert!(!e.message.is_empty(), "{e:?}");
}
