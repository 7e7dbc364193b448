//! What turning a stored event into its Avro datum costs, per event: the Pub/Sub API does it
//! once per event delivered over gRPC, and with one subscriber nothing shares that work
//! (issue 16). Two stored shapes: data published over Bayeux (the fields themselves, as
//! `bench/pubsub.sh` publishes them) and a platform event the org stored (`schema`,
//! `payload`, `event`). Each read two ways: into a `serde_json::Map` first, as the Pub/Sub API
//! once did, and in place with `RawObject`, as it does now.
//!
//! `cargo bench -p bayou-org --bench datum`

use std::collections::BTreeMap;

use bayou_org::events::avro::EventSchema;
use bayou_org::events::raw_json::RawObject;
use bayou_org::events::EventType;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The bench's event type: its stamp's fields.
fn bench_schema() -> EventSchema {
    let number = |name: &str| (name.to_owned(), "number".to_owned());
    EventSchema::of(&EventType {
        name: "Bench_0__e".into(),
        fields: BTreeMap::from([
            number("p"),
            number("r"),
            number("s"),
            number("t"),
            ("x".to_owned(), "text".to_owned()),
        ]),
    })
    .unwrap()
}

/// Stored CometD messages of about 200 bytes of data (the bench's default size).
fn messages(schema_id: &str) -> [(&'static str, String); 2] {
    let fields = format!(
        r#""p":12,"r":3,"s":123456,"t":1796000000123456,"x":"{}""#,
        "x".repeat(130)
    );
    let ext = r#""ext":{"replayId":1234567,"createdDate":"2026-12-07T05:00:00.000Z"}"#;
    [
        (
            "published over Bayeux",
            format!(r#"{{"channel":"/event/Bench_0__e","data":{{{fields}}},{ext}}}"#),
        ),
        (
            "stored by the org",
            format!(
                r#"{{"channel":"/event/Bench_0__e","data":{{"schema":"{schema_id}","payload":{{"CreatedDate":"2026-12-07T05:00:00.000Z","CreatedById":"005xx0000012345AAA",{fields}}},"event":{{"EventUuid":"6c2f1d2e-5b7a-4c51-9d0e-2f6f1d9b7a10"}}}},{ext}}}"#
            ),
        ),
    ]
}

#[derive(Deserialize)]
struct AsMap {
    data: Map<String, Value>,
}

#[derive(Deserialize)]
struct InPlace<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

fn convert(c: &mut Criterion) {
    let schema = bench_schema();
    let mut group = c.benchmark_group("stored event to datum");
    group.throughput(Throughput::Elements(1));
    for (shape, message) in messages(&schema.id) {
        group.bench_function(format!("{shape}, through a map"), |b| {
            b.iter(|| {
                let message: AsMap = serde_json::from_str(&message).unwrap();
                let payload = match message.data.get("payload") {
                    Some(Value::Object(payload)) => payload,
                    _ => &message.data,
                };
                schema.encode(payload).unwrap()
            })
        });
        group.bench_function(format!("{shape}, in place"), |b| {
            b.iter(|| {
                let message: InPlace = serde_json::from_str(&message).unwrap();
                let data = RawObject::parse(message.data.get()).unwrap();
                match data.get("payload") {
                    Some(payload) => schema
                        .encode_raw(&RawObject::parse(payload.get()).unwrap())
                        .unwrap(),
                    None => schema.encode_raw(&data).unwrap(),
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
