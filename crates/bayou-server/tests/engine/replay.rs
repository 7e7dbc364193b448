//! Durable replay through the engine: `ext.replay` options, Salesforce's error texts, the
//! opt-in expired-id fallback, and the exactly-once switch from backlog to live.

use std::sync::Arc;

use bayou_server::EngineConfig;
use serde_json::{json, Value};

use crate::support::{
    data, events, eventually, long_hold, publish, quick_config, within, ws_handshake, Client,
    TestServer, WsClient, LIMIT,
};

fn replay(channel: &str, id: Value) -> Value {
    json!({"replay": {channel: id}})
}

async fn opened(server: &TestServer) -> Client {
    let mut client = server.client();
    client.open().await;
    client
}

/// Connects until `sentinel` arrives; returns every event (text and replay id).
async fn events_until(client: &Client, sentinel: &str) -> Vec<(String, u64)> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {sentinel:?} after {events:?}"
        );
        for message in client.connect("e").await {
            if let Some(text) = message["data"]["text"].as_str() {
                let id = message["ext"]["replayId"].as_u64().expect("replay id");
                events.push((text.to_owned(), id));
                if text == sentinel {
                    return events;
                }
            }
        }
    }
}

fn texts(events: &[(String, u64)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn minus_two_replays_every_retained_event_then_live_ones() {
    let server = TestServer::start(quick_config()).await;
    for text in ["a", "b", "c"] {
        publish(&server, "/r", text).await;
    }
    publish(&server, "/other", "x").await;
    let client = opened(&server).await;
    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(-2)))
        .await;
    assert_eq!(reply["successful"], true, "{reply}");
    publish(&server, "/r", "live").await;
    let events = events_until(&client, "live").await;
    assert_eq!(texts(&events), vec!["a", "b", "c", "live"]);
    let ids: Vec<u64> = events.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, vec![1, 2, 3, 5], "ids are global: /other took 4");
    server.stop().await;
}

#[tokio::test]
async fn an_id_replays_what_came_after_it_and_numeric_strings_work() {
    let server = TestServer::start(quick_config()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(publish(&server, "/r", &i.to_string()).await);
    }
    let client = opened(&server).await;
    let from = ids[1].to_string();
    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(from)))
        .await;
    assert_eq!(reply["successful"], true, "{reply}");
    publish(&server, "/r", "live").await;
    assert_eq!(
        texts(&events_until(&client, "live").await),
        vec!["2", "3", "4", "live"]
    );
    server.stop().await;
}

#[tokio::test]
async fn minus_one_and_no_ext_deliver_only_new_events() {
    let server = TestServer::start(quick_config()).await;
    publish(&server, "/r", "old").await;
    let explicit = opened(&server).await;
    explicit
        .subscribe_with(json!("/r"), replay("/r", json!(-1)))
        .await;
    let plain = opened(&server).await;
    plain.subscribe(json!("/r")).await;
    publish(&server, "/r", "new").await;
    assert_eq!(texts(&events_until(&explicit, "new").await), vec!["new"]);
    assert_eq!(texts(&events_until(&plain, "new").await), vec!["new"]);
    server.stop().await;
}

#[tokio::test]
async fn invalid_ids_and_incomplete_maps_get_salesforces_errors() {
    let server = TestServer::start(quick_config()).await;
    publish(&server, "/r", "a").await;
    let client = opened(&server).await;

    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(99)))
        .await;
    assert_eq!(reply["successful"], false);
    assert_eq!(
        reply["error"],
        "400::The replayId {99} you provided was invalid.  Please provide a valid ID, -2 to \
         replay all events, or -1 to replay only new events."
    );
    assert_eq!(reply["subscription"], "/r");

    let reply = client
        .subscribe_with(json!("/r"), json!({"replay": {}}))
        .await;
    assert_eq!(
        reply["error"],
        "400::The replayId for channel {/r} wasn't found using the provided replay ID map {{}}. \
         Ensure that the channel name you provided in the replay map is valid and matches the \
         channel name used for subscribing."
    );
    let reply = client
        .subscribe_with(json!("/r"), replay("/q", json!(-2)))
        .await;
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("replay ID map {{/q=-2}}"),
        "{reply}"
    );

    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(-5)))
        .await;
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .starts_with("400::The replayId {-5} you provided"));

    // None of those subscriptions took effect.
    publish(&server, "/r", "after").await;
    client.subscribe(json!("/end")).await;
    publish(&server, "/end", "end").await;
    assert_eq!(texts(&events_until(&client, "end").await), vec!["end"]);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_id_fails_unless_the_client_opts_into_the_fallback() {
    let server = TestServer::start(quick_config()).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(publish(&server, "/r", &i.to_string()).await);
    }
    // Retention removes the first two events.
    assert_eq!(server.engine.log().expire_through(ids[1]).unwrap(), 2);
    let client = opened(&server).await;

    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(ids[0])))
        .await;
    assert_eq!(reply["successful"], false);
    assert_eq!(
        reply["error"],
        format!(
            "400::The replayId {{{}}} you provided was invalid.  Please provide a valid ID, -2 to \
             replay all events, or -1 to replay only new events.",
            ids[0]
        )
    );
    // The id at the retention floor is still fine: everything after it is retained.
    let reply = client
        .subscribe_with(json!("/r"), replay("/r", json!(ids[1])))
        .await;
    assert_eq!(reply["successful"], true, "{reply}");
    client
        .post(json!([{"channel":"/meta/unsubscribe","clientId":client.id(),"subscription":"/r"}]))
        .await;

    let other = opened(&server).await;
    let ext = json!({"replay": {"/r": ids[0]}, "bayou": {"replayExpired": "earliest"}});
    let reply = other.subscribe_with(json!("/r"), ext).await;
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(
        reply["ext"],
        json!({"bayou": {"replay": {"/r": {"requested": ids[0], "expired": true, "from": ids[1] + 1}}}})
    );
    publish(&server, "/r", "live").await;
    assert_eq!(
        texts(&events_until(&other, "live").await),
        vec!["2", "3", "live"]
    );
    server.stop().await;
}

#[tokio::test]
async fn wildcard_replay_crosses_channels_in_replay_id_order() {
    let server = TestServer::start(quick_config()).await;
    publish(&server, "/w/a", "1").await;
    publish(&server, "/w/b", "2").await;
    publish(&server, "/x", "3").await;
    publish(&server, "/w/a/deep", "4").await;
    publish(&server, "/w/a", "5").await;
    let client = opened(&server).await;
    client
        .subscribe_with(json!("/w/*"), replay("/w/*", json!(-2)))
        .await;
    publish(&server, "/w/c", "live").await;
    let events = events_until(&client, "live").await;
    assert_eq!(texts(&events), vec!["1", "2", "5", "live"]);
    assert!(events.windows(2).all(|w| w[0].1 < w[1].1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_from_backlog_to_live_loses_and_repeats_nothing() {
    let server = TestServer::start(long_hold()).await;
    const TOTAL: usize = 400;
    let engine = Arc::clone(&server.engine);
    let publisher = tokio::spawn(async move {
        for i in 0..TOTAL {
            let name = bayou_protocol::ChannelName::parse("/live").unwrap();
            engine.publish(&name, data(&i.to_string())).await.unwrap();
        }
    });
    // Subscribe while publishing is in full swing.
    let log = Arc::clone(server.engine.log());
    eventually(|| log.head() >= 100).await;
    let client = opened(&server).await;
    let reply = client
        .subscribe_with(json!("/live"), replay("/live", json!(-2)))
        .await;
    assert_eq!(reply["successful"], true);
    let last = (TOTAL - 1).to_string();
    let events = within(events_until(&client, &last)).await;
    publisher.await.unwrap();
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(
        texts(&events),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_long_backlog_is_read_as_the_client_drains_it() {
    let server = TestServer::start(EngineConfig {
        max_messages_per_reply: 50,
        ..quick_config()
    })
    .await;
    const TOTAL: usize = 2_000;
    for chunk in 0..4 {
        let texts = (0..TOTAL / 4).map(|i| (chunk * TOTAL / 4 + i).to_string());
        server.engine.append(events("/bulk", texts)).await.unwrap();
    }
    let client = opened(&server).await;
    client
        .subscribe_with(json!("/bulk"), replay("/bulk", json!(-2)))
        .await;
    let session = server.engine.session(client.id()).unwrap();
    assert!(
        session.queued() <= 50,
        "backlog loaded at once: {}",
        session.queued()
    );

    let mut received = Vec::new();
    while received.len() < TOTAL {
        let replies = within(client.connect("d")).await;
        assert!(
            replies.len() <= 51,
            "a reply carried {} messages",
            replies.len()
        );
        assert!(session.queued() <= 50);
        received.extend(
            replies
                .iter()
                .filter_map(|m| m["data"]["text"].as_str().map(str::to_owned)),
        );
    }
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(received, expected);
    server.stop().await;
}

#[tokio::test]
async fn replay_over_websocket() {
    let server = TestServer::start(long_hold()).await;
    for text in ["a", "b"] {
        publish(&server, "/ws", text).await;
    }
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws.send(json!([
        {"channel":"/meta/connect","clientId":cid,"connectionType":"websocket"},
        {"channel":"/meta/subscribe","clientId":cid,"subscription":"/ws","ext":{"replay":{"/ws":-2}}}
    ]))
    .await;
    ws.send(json!([{"channel":"/meta/connect","clientId":cid,"connectionType":"websocket"}]))
        .await;
    publish(&server, "/ws", "live").await;
    let mut seen = Vec::new();
    while !seen.contains(&"live".to_owned()) {
        for m in ws.next_frame(LIMIT).await {
            if let Some(text) = m["data"]["text"].as_str() {
                seen.push(text.to_owned());
            }
        }
    }
    assert_eq!(seen, vec!["a", "b", "live"]);
    server.stop().await;
}
