//! A WebSocket publisher's frames in flight together: each frame's events are queued in the
//! log as soon as the frame is read, and the frames are answered in order once stored. The log
//! here holds back every acknowledgement until the test releases it, so what the socket reads
//! and queues while nothing is answered is visible.

use std::sync::Arc;

use bayou_server::transport::in_flight::MAX_FRAMES;
use bayou_server::AllowAll;
use bayou_testkit::AckGate;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::*;

struct Held {
    server: TestServer,
    acks: AckGate,
}

async fn start_held() -> Held {
    let acks = AckGate::new();
    let gate = acks.clone();
    let server = TestServer::start_on(
        quick_config(),
        Arc::new(AllowAll),
        move |log| Arc::new(gate.hold(Arc::new(log))),
        |_| {},
    )
    .await;
    Held { server, acks }
}

fn publish_frame(client_id: &str, n: usize) -> Value {
    json!([{"channel":"/pipelined/a","clientId":client_id,"id":format!("p{n}"),"data":{"n":n}}])
}

/// The replay id a publish reply carries.
fn replay_id(reply: &Value) -> u64 {
    assert_eq!(reply["successful"], true, "{reply}");
    reply["ext"]["replayId"].as_u64().expect("a replay id")
}

#[tokio::test]
async fn frames_are_queued_before_any_is_answered_and_answered_in_order() {
    let held = start_held().await;
    let mut ws = WsClient::connect(&held.server.ws_url()).await;
    let client_id = ws_handshake(&mut ws).await;
    for n in 0..5 {
        ws.send(publish_frame(&client_id, n)).await;
    }
    // All five are in the log while none is acknowledged: the socket did not wait for the
    // first frame's acknowledgement before reading the second.
    eventually(|| held.acks.queued() == 5).await;
    held.acks.release(5);
    let mut ids = Vec::new();
    for n in 0..5 {
        let frame = ws.next_frame(LIMIT).await;
        assert_eq!(frame.len(), 1, "{frame:?}");
        assert_eq!(
            frame[0]["id"],
            format!("p{n}"),
            "answered in the frames' order"
        );
        ids.push(replay_id(&frame[0]));
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "stored in order: {ids:?}"
    );
    held.server.stop().await;
}

#[tokio::test]
async fn other_messages_wait_for_the_publishes_before_them() {
    let held = start_held().await;
    let mut ws = WsClient::connect(&held.server.ws_url()).await;
    let client_id = ws_handshake(&mut ws).await;
    // Two frames in one write, so the server reads the second as soon as it has queued the
    // first. The second is a message answered at once when handled (an unknown meta channel
    // is refused).
    let other = json!([{"channel":"/meta/nothing","clientId":client_id,"id":"s"}]);
    for frame in [publish_frame(&client_id, 0), other] {
        ws.socket
            .feed(WsMessage::text(frame.to_string()))
            .await
            .unwrap();
    }
    ws.socket.flush().await.unwrap();
    eventually(|| held.acks.queued() == 1).await;
    held.acks.release(1);
    let first = ws.next_frame(LIMIT).await;
    assert_eq!(
        first[0]["id"], "p0",
        "the publish is answered first: {first:?}"
    );
    let second = ws.next_frame(LIMIT).await;
    assert_eq!(second[0]["id"], "s", "{second:?}");
    held.server.stop().await;
}

#[tokio::test]
async fn a_socket_reads_no_more_than_its_frames_in_flight() {
    let held = start_held().await;
    let mut ws = WsClient::connect(&held.server.ws_url()).await;
    let client_id = ws_handshake(&mut ws).await;
    let sent = MAX_FRAMES + 3;
    for n in 0..sent {
        ws.send(publish_frame(&client_id, n)).await;
    }
    eventually(|| held.acks.queued() == MAX_FRAMES).await;
    // Each answer makes room for one more frame, never more.
    for answered in 1..=sent {
        held.acks.release(1);
        let frame = ws.next_frame(LIMIT).await;
        assert_eq!(frame[0]["id"], format!("p{}", answered - 1));
        let queued = held.acks.queued();
        assert!(
            queued <= (MAX_FRAMES + answered).min(sent),
            "{queued} queued after {answered} answered"
        );
    }
    assert_eq!(held.acks.queued(), sent);
    held.server.stop().await;
}
