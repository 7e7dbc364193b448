//! A client that stops reading costs a bounded amount: its queue is bounded in bytes as well as
//! in messages, a socket write that does not finish in `write_timeout` ends the socket and the
//! session, and what they held is released.

use std::time::Duration;

use bayou_server::EngineConfig;
use serde_json::json;

use crate::support::{
    eventually, long_hold, publish, quick_config, ws_handshake, TestServer, WsClient,
};

#[tokio::test]
async fn a_queue_past_its_byte_bound_ends_the_session() {
    let server = TestServer::start(EngineConfig {
        max_queue_bytes: 20_000,
        ..long_hold()
    })
    .await;
    let mut slow = server.client();
    slow.open().await;
    assert_eq!(slow.subscribe(json!("/big")).await["successful"], true);
    let cid = slow.id().to_owned();
    let session = server.engine.session(&cid).expect("the session");
    // Five events of ~5 KB fit; the sixth does not. Nobody is connected to take them.
    for _ in 0..6 {
        publish(&server, "/big", &"x".repeat(5_000)).await;
    }
    eventually(|| server.engine.session(&cid).is_none()).await;
    assert_eq!(session.queued_bytes(), 0, "the queue was released");
    let reply = slow.connect("after").await;
    assert_eq!(reply[0]["error"], "403::Unknown client");
    assert_eq!(reply[0]["advice"]["reconnect"], "handshake");
}

#[tokio::test]
async fn a_queue_within_its_byte_bound_is_delivered() {
    let server = TestServer::start(EngineConfig {
        max_queue_bytes: 40_000,
        ..quick_config()
    })
    .await;
    let mut client = server.client();
    client.open().await;
    assert_eq!(client.subscribe(json!("/big")).await["successful"], true);
    for _ in 0..5 {
        publish(&server, "/big", &"x".repeat(5_000)).await;
    }
    publish(&server, "/big", "last").await;
    let texts = client.texts_until("last").await;
    assert_eq!(texts.len(), 6);
}

#[tokio::test]
async fn a_websocket_that_never_reads_is_closed_after_the_write_timeout() {
    let server = TestServer::start(EngineConfig {
        write_timeout: Duration::from_millis(300),
        // Only the write timeout can end this session.
        max_queue_bytes: 1 << 30,
        ..long_hold()
    })
    .await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws.send(json!([
        {"channel":"/meta/connect","clientId":cid,"connectionType":"websocket"},
        {"channel":"/meta/subscribe","clientId":cid,"subscription":"/firehose"}
    ]))
    .await;
    // From here on the client reads nothing. 40 MB is far more than loopback's socket buffers.
    let big = "x".repeat(100_000);
    for _ in 0..400 {
        publish(&server, "/firehose", &big).await;
        if server.engine.session(&cid).is_none() {
            break;
        }
    }
    eventually(|| server.engine.session(&cid).is_none()).await;
    // The socket's task ended too: nothing holds the frames any more.
    let health: serde_json::Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (health["sessions"].clone(), health["websockets"].clone()),
        (json!(0), json!(0)),
        "{health}"
    );
    drop(ws);
}
