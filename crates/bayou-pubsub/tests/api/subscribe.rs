//! Subscribe: replay presets, credits, keepalives, idle close, and the errors that end a
//! stream.

use std::time::Duration;

use bayou_pubsub::proto::ReplayPreset;
use bayou_pubsub::PubSubConfig;
use serde_json::json;
use tonic::{Code, Status};

use crate::support::{decode, error_code, fetch, start, Subscription};

#[tokio::test]
async fn earliest_replays_rest_events_in_avro_with_the_cometd_replay_ids() {
    let api = start(PubSubConfig::default()).await;
    let cometd = api
        .bayou
        .subscribe(&api.token, "/event/Low_Ink__e", None)
        .await;
    for model in ["A", "B", "C"] {
        api.publish_rest(model).await;
    }
    let seen: Vec<u64> = api
        .bayou
        .events(&cometd, 3)
        .await
        .iter()
        .map(|m| m["data"]["event"]["replayId"].as_u64().unwrap())
        .collect();

    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Earliest, None, 10))
        .await
        .unwrap();
    let (ids, payloads, last) = sub.events(3).await;
    assert_eq!(ids, seen);
    assert_eq!(last.pending_num_requested, 7);
    assert_eq!(&last.latest_replay_id[..], &seen[2].to_be_bytes());
    let schema_id = api
        .bayou
        .org()
        .current_event_schema("Low_Ink__e")
        .unwrap()
        .id
        .clone();
    let first = decode(&mut client, &schema_id, &payloads[0]).await;
    assert_eq!(first["Printer_Model__c"], "A");
    assert_eq!(first["Ink_Percentage__c"], 0.5);
    assert_eq!(first["Urgent__c"], serde_json::Value::Null);
    assert!(first["CreatedDate"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(first["CreatedById"].as_str().unwrap().starts_with("005"));
}

#[tokio::test]
async fn latest_sees_only_what_comes_after_and_credits_bound_each_delivery() {
    let api = start(PubSubConfig::default()).await;
    api.publish_rest("before").await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 2))
        .await
        .unwrap();
    for model in ["one", "two", "three", "four", "five"] {
        api.publish_rest(model).await;
    }
    let schema_id = api
        .bayou
        .org()
        .current_event_schema("Low_Ink__e")
        .unwrap()
        .id
        .clone();
    let (ids, payloads, last) = sub.events(2).await;
    assert_eq!(ids.len(), 2, "two credits, two events");
    assert_eq!(last.pending_num_requested, 0);
    assert_eq!(
        decode(&mut client, &schema_id, &payloads[0]).await["Printer_Model__c"],
        "one"
    );
    // More credits, the rest; more than 100 outstanding is capped at 100.
    sub.request(500).await;
    let (more, payloads, last) = sub.events(3).await;
    assert_eq!(more.len(), 3);
    assert!(more[0] > ids[1]);
    assert_eq!(
        decode(&mut client, &schema_id, &payloads[2]).await["Printer_Model__c"],
        "five"
    );
    assert_eq!(last.pending_num_requested, 97);
}

#[tokio::test]
async fn custom_resumes_after_the_given_id_and_rejects_corrupt_or_expired_ids() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let mut all = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 10))
        .await
        .unwrap();
    for model in ["a", "b", "c"] {
        api.publish_rest(model).await;
    }
    let (ids, _, _) = all.events(3).await;

    let mut resumed =
        Subscription::open(&mut client, fetch(ReplayPreset::Custom, Some(ids[0]), 10))
            .await
            .unwrap();
    let (after, _, _) = resumed.events(2).await;
    assert_eq!(after, ids[1..]);

    let mut corrupt = fetch(ReplayPreset::Custom, None, 10);
    corrupt.replay_id = vec![1, 2, 3].into();
    // A bad first request fails the call itself.
    let status = Subscription::open(&mut client, corrupt)
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    );

    let ahead = Subscription::open(
        &mut client,
        fetch(ReplayPreset::Custom, Some(ids[2] + 1_000), 10),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(ahead.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&ahead),
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    );

    // Retention removes the first two: resuming from before them would miss events.
    api.bayou
        .fault("expire-log", json!({"replayId": ids[1]}))
        .await;
    let status = Subscription::open(&mut client, fetch(ReplayPreset::Custom, Some(ids[0]), 10))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    // The code clients recover on by resubscribing with a preset (Salesforce's retry guide).
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    );
    assert!(
        status.message().contains("retention"),
        "{}",
        status.message()
    );
    // EARLIEST starts at what is left.
    let mut earliest = Subscription::open(&mut client, fetch(ReplayPreset::Earliest, None, 10))
        .await
        .unwrap();
    let (left, _, _) = earliest.events(1).await;
    assert_eq!(left, [ids[2]]);
}

#[tokio::test]
async fn an_idle_stream_gets_keepalives_with_the_latest_replay_id() {
    let config = PubSubConfig {
        keepalive: Duration::from_millis(200),
        ..PubSubConfig::default()
    };
    let api = start(config).await;
    api.publish_rest("x").await;
    let head = api.bayou.engine().log().head();
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 5))
        .await
        .unwrap();
    let keepalive = sub.next().await.unwrap();
    assert!(keepalive.events.is_empty());
    assert_eq!(keepalive.pending_num_requested, 5);
    assert_eq!(&keepalive.latest_replay_id[..], &head.to_be_bytes());
}

#[tokio::test]
async fn a_stream_that_requests_nothing_is_closed_after_the_idle_timeout() {
    let config = PubSubConfig {
        idle_timeout: Duration::from_millis(300),
        ..PubSubConfig::default()
    };
    let api = start(config).await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 1))
        .await
        .unwrap();
    api.publish_rest("only").await;
    let (ids, _, last) = sub.events(1).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(last.pending_num_requested, 0);
    let status = sub.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("no events were requested"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn revoking_the_token_ends_the_stream_unauthenticated() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 10))
        .await
        .unwrap();
    api.publish_rest("before").await;
    sub.events(1).await;
    assert_eq!(api.bayou.revoke(&api.token).await, 200);
    let other = api.bayou.token().await;
    let (status, _) = api
        .bayou
        .rest(
            &other,
            reqwest::Method::POST,
            "sobjects/Low_Ink__e",
            Some(json!({"Printer_Model__c": "after"})),
        )
        .await;
    assert_eq!(status, 201);
    let status = sub.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.service.auth.error"
    );
}

#[tokio::test]
async fn dropping_connections_ends_streams_and_a_new_subscription_resumes() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 10))
        .await
        .unwrap();
    api.publish_rest("one").await;
    let (ids, _, _) = sub.events(1).await;
    api.bayou.fault("drop-connections", json!({})).await;
    assert_eq!(sub.next().await.unwrap_err().code(), Code::Unavailable);
    api.publish_rest("two").await;
    let mut again = Subscription::open(&mut client, fetch(ReplayPreset::Custom, Some(ids[0]), 10))
        .await
        .unwrap();
    let (next, _, _) = again.events(1).await;
    assert!(next[0] > ids[0]);
}

/// The field names a change event bitmap marks, decoded as clients decode it: bit i of the hex
/// number is the schema's field i.
fn bitmap_names(bitmap: &[String], fields: &[String]) -> Vec<String> {
    let Some(first) = bitmap.first() else {
        return Vec::new();
    };
    let hex = first.strip_prefix("0x").expect("0x prefix");
    assert_eq!(hex, hex.to_uppercase(), "upper-case digits");
    let bits: Vec<bool> = hex
        .chars()
        .rev()
        .flat_map(|c| {
            let nibble = c.to_digit(16).unwrap();
            (0..4).map(move |i| nibble & (1 << i) != 0)
        })
        .collect();
    bits.iter()
        .enumerate()
        .filter(|(_, set)| **set)
        .map(|(i, _)| fields[i].clone())
        .collect()
}

#[tokio::test]
async fn change_events_arrive_in_avro_with_bitmaps_of_the_changed_fields() {
    let api = start(PubSubConfig::default()).await;
    let (status, body) = api
        .bayou
        .admin_call("cdc", json!({"entity": "Account"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut client = api.client().await;
    let mut entity = Subscription::open(
        &mut client,
        bayou_pubsub::proto::FetchRequest {
            topic_name: "/data/AccountChangeEvent".into(),
            num_requested: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut all = Subscription::open(
        &mut client,
        bayou_pubsub::proto::FetchRequest {
            topic_name: "/data/ChangeEvents".into(),
            num_requested: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let id = api
        .bayou
        .create(
            &api.token,
            "Account",
            json!({"Name": "Acme", "Industry": "Energy"}),
        )
        .await;
    api.bayou
        .update(
            &api.token,
            "Account",
            &id,
            json!({"Industry": null, "Phone": "555"}),
        )
        .await;

    let events = entity.events_with_schemas(2).await;
    let everything = all.events_with_schemas(2).await;
    for (one, other) in events.iter().zip(&everything) {
        assert_eq!(
            (&one.1, &one.2),
            (&other.1, &other.2),
            "the same datum on both channels"
        );
    }
    // Phone is new to Account's records: the update is written with a newer schema, and the
    // create still decodes with its own.
    assert_ne!(events[0].1, events[1].1, "a field more, a new schema id");
    let create = decode(&mut client, &events[0].1, &events[0].2).await;
    assert_eq!(create["ChangeEventHeader"]["changeType"], "CREATE");
    assert_eq!(create["Name"], "Acme");
    assert_eq!(create["ChangeEventHeader"]["changedFields"], json!([]));
    let response_schema = events[1].1.clone();
    let update = decode(&mut client, &response_schema, &events[1].2).await;
    let header = &update["ChangeEventHeader"];
    assert_eq!(header["changeType"], "UPDATE");
    assert_eq!(header["entityName"], "Account");
    assert_eq!(header["recordIds"], json!([id]));
    let info = client
        .get_schema(bayou_pubsub::proto::SchemaRequest {
            schema_id: response_schema.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let schema: serde_json::Value = serde_json::from_str(&info.schema_json).unwrap();
    let fields: Vec<String> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut changed = bitmap_names(&strings(&header["changedFields"]), &fields);
    changed.sort();
    assert_eq!(changed, ["Industry", "LastModifiedDate", "Phone"]);
    assert_eq!(
        bitmap_names(&strings(&header["nulledFields"]), &fields),
        ["Industry"]
    );
    assert_eq!(update["Phone"], "555");
    assert_eq!(
        update["Name"],
        serde_json::Value::Null,
        "unchanged fields are null"
    );
    assert!(update["LastModifiedDate"].as_i64().unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn the_daily_delivery_allocation_counts_grpc_deliveries() {
    let engine = bayou_server::EngineConfig {
        delivery_allocations: vec![bayou_server::engine::DeliveryAllocation {
            name: "PlatformEvents".into(),
            patterns: vec!["/event/**".into()],
            per_day: 2,
        }],
        ..Default::default()
    };
    let api = crate::support::start_with(PubSubConfig::default(), engine).await;
    // Stored first and replayed together: the allocation runs out inside one batch, whose
    // first two events still go out before the stream ends.
    for model in ["one", "two", "three"] {
        api.publish_rest(model).await;
    }
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Earliest, None, 10))
        .await
        .unwrap();
    let mut delivered = 0;
    let status = loop {
        match sub.next().await {
            Ok(response) => delivered += response.events.len(),
            Err(status) => break status,
        }
    };
    assert_eq!(delivered, 2, "two deliveries allowed a day");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"
    );
}

#[tokio::test]
async fn delayed_deliveries_reach_grpc_subscribers_late_and_in_order() {
    let api = start(PubSubConfig::default()).await;
    api.bayou
        .fault("delay-deliveries", json!({"ms": 400}))
        .await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 10))
        .await
        .unwrap();
    let published = std::time::Instant::now();
    api.publish_rest("late").await;
    api.publish_rest("later").await;
    let (ids, _, _) = sub.events(2).await;
    assert!(
        published.elapsed() >= Duration::from_millis(400),
        "delivered {:?} after the publish",
        published.elapsed()
    );
    assert!(ids[0] < ids[1]);
}

#[tokio::test]
async fn bad_fetch_requests_get_salesforces_codes() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let code_of = |status: &Status| error_code(status).to_owned();

    // Credits must be positive, in the first request and in later ones.
    let status = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 0))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        code_of(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
    );
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 1))
        .await
        .unwrap();
    sub.request(-5).await;
    let status = sub.next().await.unwrap_err();
    assert_eq!(
        code_of(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
    );

    // CUSTOM needs a replay id.
    let status = Subscription::open(&mut client, fetch(ReplayPreset::Custom, None, 1))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        code_of(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
    );

    // A blank topic, and a later request naming another topic than the first.
    let mut blank = fetch(ReplayPreset::Latest, None, 1);
    blank.topic_name.clear();
    let status = Subscription::open(&mut client, blank).await.err().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        code_of(&status),
        "sfdc.platform.eventbus.grpc.topic.validation.empty"
    );
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 1))
        .await
        .unwrap();
    let mut other = fetch(ReplayPreset::Latest, None, 1);
    other.topic_name = "/data/ChangeEvents".into();
    sub.requests.send(other).await.unwrap();
    let status = sub.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        code_of(&status),
        "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch"
    );
}

#[tokio::test]
async fn credits_of_several_requests_add_up_to_at_most_100() {
    let config = PubSubConfig {
        keepalive: Duration::from_millis(100),
        ..PubSubConfig::default()
    };
    let api = start(config).await;
    let mut client = api.client().await;
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 60))
        .await
        .unwrap();
    sub.request(30).await;
    owed_after(&mut sub, 90).await;
    sub.request(30).await;
    owed_after(&mut sub, 100).await;
    api.publish_rest("one").await;
    let (ids, _, last) = sub.events(1).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(last.pending_num_requested, 99);
}

/// Waits for a keepalive saying `expected` events are owed; keepalives before the server read
/// the last request say the figure before, and none says more than 100.
async fn owed_after(sub: &mut Subscription, expected: i32) {
    loop {
        let response = sub.next().await.unwrap();
        assert!(response.events.is_empty());
        assert!(response.pending_num_requested <= 100, "{response:?}");
        if response.pending_num_requested == expected {
            return;
        }
    }
}
