//! Memory and slow consumers (issue 17, items 7–9): clients that stop reading, sessions that
//! multiply one event, and floods of sessions, subscriptions and objects.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{websocket, Context};

/// Attack 7: WebSockets that never read while large events pour in: each session is closed at its
/// byte bound or write timeout, and its socket and memory go with it.
pub async fn websockets_that_never_read(ctx: &Context<'_>) {
    let before = ctx.target.health().await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut socket = websocket(ctx.target, Some(ctx.owner), None)
            .await
            .expect("upgrade");
        let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"]}]);
        socket
            .send(Message::text(handshake.to_string()))
            .await
            .unwrap();
        let reply = next_json(&mut socket).await;
        let client = reply[0]["clientId"].as_str().unwrap().to_owned();
        let subscribe = json!([
            {"channel":"/meta/subscribe","clientId":client,"subscription":"/chat/flood"},
            {"channel":"/meta/connect","clientId":client,"connectionType":"websocket"}
        ]);
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        let reply = next_json(&mut socket).await;
        assert_eq!(reply[0]["successful"], true, "{reply}");
        stalled.push(socket); // never read again
    }
    let publisher = ctx.target.handshake(ctx.owner).await;
    let blob = "w".repeat(31_000);
    for _ in 0..1_000 {
        let publish = json!([{"channel":"/chat/flood","clientId":publisher,"data":{"blob":blob}}]);
        let (status, replies) = ctx.target.bayeux(ctx.owner, publish).await;
        assert_eq!(status, 200);
        assert_eq!(replies[0]["successful"], true, "{replies}");
    }
    // Each stalled session passes its 4 MiB bound (31 MB were sent its way), or its socket
    // stops taking writes: the server closes it and forgets the socket.
    let websockets_before = before["websockets"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = ctx.target.health().await;
        if health["websockets"].as_u64().unwrap() == websockets_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stalled WebSockets still held: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stalled);
}

/// The next text frame, parsed.
async fn next_json(socket: &mut super::Socket) -> Value {
    loop {
        match socket.next().await.expect("a frame").expect("a good frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Attack 8: Six hundred filtered subscriptions of one session passing five 30 KB records: one copy
/// of each event in the session, and every delivery on its own channel.
pub async fn many_filtered_subscriptions(ctx: &Context<'_>) {
    let topic = json!({"Name": "Wide", "ApiVersion": 66.0,
                       "Query": "SELECT Id, Name, Phone, Description FROM Account"});
    let (status, reply) = ctx
        .target
        .rest(Method::POST, "/sobjects/PushTopic", ctx.owner, Some(topic))
        .await;
    assert_eq!(status, 201, "{reply}");
    let client = ctx.target.handshake(ctx.owner).await;
    let connect = json!([{"channel":"/meta/connect","clientId":client,"connectionType":"long-polling","advice":{"timeout":0}}]);
    ctx.target.bayeux(ctx.owner, connect.clone()).await;
    let channels: Vec<String> = (0..600)
        .map(|i| format!("/topic/Wide?Name='Wide'&Phone='{i}'"))
        .collect();
    for chunk in channels.chunks(200) {
        let subscribes: Vec<Value> = chunk
            .iter()
            .map(|c| json!({"channel":"/meta/subscribe","clientId":client,"subscription":c}))
            .collect();
        let (_, replies) = ctx.target.bayeux(ctx.owner, json!(subscribes)).await;
        assert!(replies
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["successful"] == true));
    }
    let description = "f".repeat(30_000);
    for _ in 0..5 {
        let record = json!({"Name": "Wide", "Description": description});
        let (status, reply) = ctx
            .target
            .rest(Method::POST, "/sobjects/Account", ctx.owner, Some(record))
            .await;
        assert_eq!(status, 201, "{reply}");
    }
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < 3_000 {
        assert!(Instant::now() < deadline, "only {received} deliveries");
        let (status, replies) = ctx.target.bayeux(ctx.owner, connect.clone()).await;
        assert_eq!(status, 200);
        for message in replies.as_array().unwrap() {
            if message["channel"] == "/meta/connect" {
                assert_eq!(message["successful"], true, "{message}");
            } else {
                assert!(channels.iter().any(|c| message["channel"] == c.as_str()));
                received += 1;
            }
        }
    }
    assert_eq!(received, 3_000);
}

/// Attack 9: Floods: sessions per user, subscriptions per session, custom object names.
pub async fn floods(ctx: &Context<'_>) {
    // One user's sessions: 2,000 by default, then Salesforce's denial.
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let mut clients = Vec::new();
    let mut denied = 0;
    for _ in 0..21 {
        let attempts = (0..100).map(|_| ctx.target.bayeux(ctx.attacker, handshake.clone()));
        for (status, replies) in join_all(attempts).await {
            assert_eq!(status, 200);
            match replies[0]["clientId"].as_str() {
                Some(id) => clients.push(id.to_owned()),
                None => {
                    assert_eq!(replies[0]["error"], "403::Handshake denied", "{replies}");
                    denied += 1;
                }
            }
        }
    }
    assert_eq!((clients.len(), denied), (2_000, 100));
    for chunk in clients.chunks(200) {
        let disconnects: Vec<Value> = chunk
            .iter()
            .map(|c| json!({"channel":"/meta/disconnect","clientId":c}))
            .collect();
        ctx.target.bayeux(ctx.attacker, json!(disconnects)).await;
    }

    // Subscriptions per session: 1,000 by default.
    let client = ctx.target.handshake(ctx.attacker).await;
    let mut last = Value::Null;
    for chunk in 0..3 {
        let subscribes: Vec<Value> = (0..334)
            .map(|i| json!({"channel":"/meta/subscribe","clientId":client,"subscription":format!("/chat/s{}", chunk * 334 + i)}))
            .collect();
        let (_, replies) = ctx.target.bayeux(ctx.attacker, json!(subscribes)).await;
        last = replies;
    }
    let replies = last.as_array().unwrap();
    assert_eq!(replies[331]["successful"], true);
    assert_eq!(replies[332]["successful"], false, "the 1,001st");
    assert_eq!(
        replies[332]["error"],
        "403::Too many subscriptions in one session (the limit is 1000)"
    );

    // Custom object names past 40 characters are unknown objects.
    let name = format!("{}__c", "X".repeat(5_000));
    let (status, _) = ctx
        .target
        .rest(
            Method::POST,
            &format!("/sobjects/{name}"),
            ctx.attacker,
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
}
