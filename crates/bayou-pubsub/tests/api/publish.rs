//! Publish and PublishStream: Avro in, per-event results out, and the events reach CometD
//! subscribers in the JSON they get from a REST publish.

use apache_avro::types::Value as Avro;
use bayou_pubsub::proto::{
    ProducerEvent, PublishRequest, PublishResponse, ReplayPreset, TopicRequest,
};
use bayou_pubsub::PubSubConfig;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use std::time::Duration;

use bayou_pubsub::publish::MAX_REQUESTS_IN_FLIGHT;
use bayou_testkit::{eventually, AckGate};

use crate::support::{error_code, fetch, start, start_holding_acks, Client, Subscription, TOPIC};

/// How long a test waits for what it expects.
const LIMIT: Duration = Duration::from_secs(10);

/// Encodes a Low_Ink__e event with apache-avro and the schema `GetSchema` returns.
async fn low_ink(client: &mut Client, model: Option<&str>, ink: f64) -> ProducerEvent {
    let topic = client
        .get_topic(TopicRequest {
            topic_name: TOPIC.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let info = client
        .get_schema(bayou_pubsub::proto::SchemaRequest {
            schema_id: topic.schema_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let schema = apache_avro::Schema::parse_str(&info.schema_json).unwrap();
    let union = |value: Option<Avro>| match value {
        Some(v) => Avro::Union(1, Box::new(v)),
        None => Avro::Union(0, Box::new(Avro::Null)),
    };
    let record = Avro::Record(vec![
        ("CreatedDate".into(), Avro::Long(1_700_000_000_000)),
        (
            "CreatedById".into(),
            Avro::String("005000000000000AAA".into()),
        ),
        ("Ink_Percentage__c".into(), union(Some(Avro::Double(ink)))),
        (
            "Printer_Model__c".into(),
            union(model.map(|m| Avro::String(m.into()))),
        ),
        ("Urgent__c".into(), union(Some(Avro::Boolean(true)))),
    ]);
    let payload = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(record)
        .unwrap();
    ProducerEvent {
        id: format!("corr-{ink}"),
        schema_id: topic.schema_id,
        payload: payload.into(),
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn published_events_reach_cometd_and_grpc_with_the_same_replay_ids() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let cometd = api
        .bayou
        .subscribe(&api.token, "/event/Low_Ink__e", None)
        .await;
    let mut grpc = Subscription::open(&mut client, fetch(ReplayPreset::Latest, None, 10))
        .await
        .unwrap();
    let events = vec![
        low_ink(&mut client, Some("XZO-5"), 0.25).await,
        low_ink(&mut client, None, 0.5).await,
    ];
    let response = client
        .publish(PublishRequest {
            topic_name: TOPIC.into(),
            events,
            auth_refresh: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results.len(), 2);
    let published: Vec<u64> = response
        .results
        .iter()
        .map(|r| {
            assert!(r.error.is_none(), "{r:?}");
            u64::from_be_bytes(r.replay_id[..].try_into().unwrap())
        })
        .collect();
    assert_eq!(response.results[0].correlation_key, "corr-0.25");

    let messages = api.bayou.events(&cometd, 2).await;
    let cometd_ids: Vec<u64> = messages
        .iter()
        .map(|m| m["data"]["event"]["replayId"].as_u64().unwrap())
        .collect();
    assert_eq!(cometd_ids, published);
    let payload = &messages[0]["data"]["payload"];
    assert_eq!(payload["Printer_Model__c"], "XZO-5");
    assert_eq!(payload["Ink_Percentage__c"], 0.25);
    assert_eq!(payload["Urgent__c"], true);
    // CreatedDate is ISO-8601 text on CometD, as for a REST publish, and stamped by the org.
    assert!(payload["CreatedDate"].as_str().unwrap().ends_with('Z'));
    assert!(payload["CreatedById"].as_str().unwrap().starts_with("005"));
    assert_ne!(payload["CreatedById"], "005000000000000AAA");
    assert_eq!(messages[0]["data"]["event"]["EventUuid"], "corr-0.25");
    assert_eq!(messages[0]["data"]["schema"], response.schema_id.as_str());

    let (grpc_ids, _, _) = grpc.events(2).await;
    assert_eq!(grpc_ids, published);
}

#[tokio::test]
async fn each_bad_event_gets_its_own_error_and_the_good_ones_are_published() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let good = low_ink(&mut client, Some("ok"), 0.1).await;
    let mut wrong_schema = low_ink(&mut client, Some("x"), 0.2).await;
    wrong_schema.schema_id = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let mut garbage = low_ink(&mut client, Some("x"), 0.3).await;
    garbage.payload = vec![0xff; 7].into();
    let mut huge = low_ink(&mut client, Some("x"), 0.4).await;
    huge.payload = vec![0; 1_000_001].into();
    let response = client
        .publish(PublishRequest {
            topic_name: TOPIC.into(),
            events: vec![wrong_schema, good, garbage, huge],
            auth_refresh: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let outcome: Vec<(String, bool)> = response
        .results
        .iter()
        .map(|r| (r.correlation_key.clone(), r.error.is_none()))
        .collect();
    assert_eq!(
        outcome,
        [
            ("corr-0.2".to_owned(), false),
            ("corr-0.1".to_owned(), true),
            ("corr-0.3".to_owned(), false),
            ("corr-0.4".to_owned(), false),
        ]
    );
    let errors: Vec<&str> = response
        .results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| e.msg.as_str()))
        .collect();
    assert!(errors[0].contains("schema"), "{errors:?}");
    assert!(errors[2].contains("1000000"), "{errors:?}");

    // Only the good one is in the log.
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Earliest, None, 10))
        .await
        .unwrap();
    let (ids, _, _) = sub.events(1).await;
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn a_publish_stream_answers_each_request_in_order() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let (requests, outbound) = mpsc::channel(8);
    for ink in [0.1, 0.2, 0.3] {
        let event = low_ink(&mut client, Some("stream"), ink).await;
        requests
            .send(PublishRequest {
                topic_name: if ink == 0.1 {
                    TOPIC.into()
                } else {
                    String::new()
                },
                events: vec![event],
                auth_refresh: String::new(),
            })
            .await
            .unwrap();
    }
    let mut responses = client
        .publish_stream(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    let mut keys = Vec::new();
    for _ in 0..3 {
        let response = responses.message().await.unwrap().unwrap();
        keys.push(response.results[0].correlation_key.clone());
        assert!(response.results[0].error.is_none());
    }
    assert_eq!(keys, ["corr-0.1", "corr-0.2", "corr-0.3"]);

    // A request naming another topic ends the stream with INVALID_ARGUMENT.
    let event = low_ink(&mut client, Some("stream"), 0.4).await;
    requests
        .send(PublishRequest {
            topic_name: "/event/Other__e".into(),
            events: vec![event],
            auth_refresh: String::new(),
        })
        .await
        .unwrap();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.publish.topic.mismatch"
    );
}

/// A `PublishRequest` of one event, naming the topic.
fn request_of(event: ProducerEvent) -> PublishRequest {
    PublishRequest {
        topic_name: TOPIC.into(),
        events: vec![event],
        auth_refresh: String::new(),
    }
}

/// Opens a publish stream of the requests in `outbound` and waits until `count` of them are
/// queued in the log. What was appended before (held too) is let through first. Returns the
/// responses and the appends queued before the stream, which the test's counts start from.
async fn open_until_queued(
    client: &mut Client,
    acks: &AckGate,
    outbound: mpsc::Receiver<PublishRequest>,
    count: usize,
) -> (tonic::Streaming<PublishResponse>, usize) {
    let before = acks.queued();
    acks.release(before);
    let responses = client
        .publish_stream(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    eventually("the stream's requests queued", LIMIT, || {
        acks.queued() - before == count
    })
    .await;
    (responses, before)
}

#[tokio::test]
async fn a_publish_stream_queues_requests_before_any_is_answered() {
    // The log acknowledges nothing until the test releases it: every request the stream
    // queues meanwhile was read without waiting for the response before it, as Salesforce's
    // proto promises ("a client does not have to wait for a PublishResponse before sending a
    // new PublishRequest").
    let (api, acks) = start_holding_acks(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let (requests, outbound) = mpsc::channel(8);
    let inks = [0.1, 0.2, 0.3, 0.4, 0.5];
    for ink in inks {
        let event = low_ink(&mut client, Some("in flight"), ink).await;
        requests.send(request_of(event)).await.unwrap();
    }
    let (mut responses, _) = open_until_queued(&mut client, &acks, outbound, 5).await;
    acks.release(5);
    let mut answered = Vec::new();
    for _ in inks {
        let response = responses.message().await.unwrap().unwrap();
        let result = &response.results[0];
        assert!(result.error.is_none(), "{result:?}");
        answered.push((
            result.correlation_key.clone(),
            u64::from_be_bytes(result.replay_id[..].try_into().unwrap()),
        ));
    }
    let keys: Vec<&str> = answered.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["corr-0.1", "corr-0.2", "corr-0.3", "corr-0.4", "corr-0.5"]
    );
    assert!(
        answered.windows(2).all(|w| w[0].1 < w[1].1),
        "stored in the requests' order: {answered:?}"
    );
}

#[tokio::test]
async fn a_publish_stream_reads_no_more_than_its_requests_in_flight() {
    let (api, acks) = start_holding_acks(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let event = low_ink(&mut client, Some("bounded"), 0.5).await;
    let sent = MAX_REQUESTS_IN_FLIGHT + 4;
    let (requests, outbound) = mpsc::channel(sent);
    for _ in 0..sent {
        requests.send(request_of(event.clone())).await.unwrap();
    }
    drop(requests);
    // Whatever was appended before (held too) goes through; the stream's requests come next.
    let (mut responses, before) =
        open_until_queued(&mut client, &acks, outbound, MAX_REQUESTS_IN_FLIGHT).await;
    // Each answer makes room for one more request, never more.
    for answered in 1..=sent {
        acks.release(1);
        let response = responses.message().await.unwrap().unwrap();
        assert!(response.results[0].error.is_none());
        let queued = acks.queued() - before;
        assert!(
            queued <= (MAX_REQUESTS_IN_FLIGHT + answered).min(sent),
            "{queued} queued after {answered} answered"
        );
    }
    // The client closed its side: once everything is answered, the stream ends cleanly.
    assert!(responses.message().await.unwrap().is_none());
}

#[tokio::test]
async fn a_request_the_log_cannot_store_gets_errors_and_the_stream_goes_on() {
    let (api, acks) = start_holding_acks(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let (requests, outbound) = mpsc::channel(8);
    for ink in [0.1, 0.2, 0.3] {
        let event = low_ink(&mut client, Some("failing"), ink).await;
        requests.send(request_of(event)).await.unwrap();
    }
    let (mut responses, _) = open_until_queued(&mut client, &acks, outbound, 3).await;
    acks.release(1);
    acks.fail(1);
    acks.release(1);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let response = responses.message().await.unwrap().unwrap();
        let result = &response.results[0];
        outcomes.push((result.correlation_key.clone(), result.error.clone()));
    }
    assert_eq!(outcomes[0], ("corr-0.1".into(), None));
    assert_eq!(outcomes[1].0, "corr-0.2");
    let error = outcomes[1]
        .1
        .as_ref()
        .expect("the second request's event failed");
    assert!(error.msg.contains("could not be stored"), "{error:?}");
    assert_eq!(outcomes[2], ("corr-0.3".into(), None));
    // Still open: another request is answered.
    let event = low_ink(&mut client, Some("failing"), 0.4).await;
    requests.send(request_of(event)).await.unwrap();
    acks.release(1);
    let response = responses.message().await.unwrap().unwrap();
    assert_eq!(response.results[0].correlation_key, "corr-0.4");
    assert!(response.results[0].error.is_none());
}

#[tokio::test]
async fn bad_publish_requests_get_salesforces_codes() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let event = low_ink(&mut client, Some("codes"), 0.5).await;
    let blank = client
        .publish(PublishRequest {
            topic_name: String::new(),
            events: vec![event],
            auth_refresh: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(blank.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error_code(&blank),
        "sfdc.platform.eventbus.grpc.publish.topic.validation.empty"
    );
    let empty = client
        .publish(PublishRequest {
            topic_name: TOPIC.into(),
            events: Vec::new(),
            auth_refresh: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        error_code(&empty),
        "sfdc.platform.eventbus.grpc.publish.event.count.invalid"
    );
}

/// A request just over gRPC's 4 MB (4,194,304 bytes).
fn oversized(mut event: ProducerEvent) -> PublishRequest {
    event.payload = vec![0; 4 * 1024 * 1024].into();
    request_of(event)
}

#[tokio::test]
async fn a_request_over_4_mb_is_refused_as_grpc_java_refuses_it() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let event = low_ink(&mut client, Some("big"), 0.5).await;
    let status = client.publish(oversized(event.clone())).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status
            .message()
            .starts_with("gRPC message exceeds maximum size 4194304: 4194"),
        "{}",
        status.message()
    );

    // On a stream, the requests before it are answered first.
    let (requests, outbound) = mpsc::channel(4);
    requests.send(request_of(event.clone())).await.unwrap();
    requests.send(oversized(event)).await.unwrap();
    let mut responses = client
        .publish_stream(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    let first = responses.message().await.unwrap().unwrap();
    assert!(first.results[0].error.is_none());
    assert_eq!(first.results[0].replay_id.len(), 8);
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status
            .message()
            .starts_with("gRPC message exceeds maximum size 4194304"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn dropped_connections_and_revoked_tokens_end_idle_publish_streams() {
    let config = PubSubConfig {
        token_check: Duration::from_millis(50),
        ..PubSubConfig::default()
    };
    let api = start(config).await;
    let open = |client: &mut Client, event: ProducerEvent| {
        let (requests, outbound) = mpsc::channel(4);
        let mut client = client.clone();
        async move {
            requests.send(request_of(event)).await.unwrap();
            let mut responses = client
                .publish_stream(ReceiverStream::new(outbound))
                .await
                .unwrap()
                .into_inner();
            let answer = responses.message().await.unwrap().unwrap();
            assert!(answer.results[0].error.is_none());
            // Kept open: the stream is idle, not finished.
            (requests, responses)
        }
    };
    let mut client = api.client().await;
    let event = low_ink(&mut client, Some("idle"), 0.5).await;

    let (_requests, mut responses) = open(&mut client, event.clone()).await;
    api.bayou.fault("drop-connections", json!({})).await;
    let status = tokio::time::timeout(LIMIT, responses.message())
        .await
        .expect("the stream was not ended")
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.service.unavailable"
    );

    let (_requests, mut responses) = open(&mut client, event).await;
    assert_eq!(api.bayou.revoke(&api.token).await, 200);
    // Well before the 70 s idle close.
    let status = tokio::time::timeout(LIMIT, responses.message())
        .await
        .expect("the stream was not ended")
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.service.auth.error"
    );
}
