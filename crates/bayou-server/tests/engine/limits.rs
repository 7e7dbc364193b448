//! Limits that keep one client from taking what others need: sessions per client address and
//! subscriptions per session, each refused with a clear error while everything else goes on.

use bayou_server::EngineConfig;
use serde_json::json;

use std::time::Duration;

use crate::support::{quick_config, TestServer};

/// Short holds, but sessions that outlive a slow test machine.
fn config() -> EngineConfig {
    EngineConfig {
        max_interval: Duration::from_secs(60),
        ..quick_config()
    }
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_sessions() {
    let server = TestServer::start(EngineConfig {
        max_sessions_per_address: Some(2),
        ..config()
    })
    .await;
    let mut first = server.client();
    first.handshake().await;
    let mut second = server.client();
    second.handshake().await;
    let third = server
        .client()
        .post(json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
        .await
        .remove(0);
    assert_eq!(third["successful"], false);
    assert_eq!(third["error"], "403::Handshake denied");
    assert!(
        third["ext"]["sfdc"]["failureReason"]
            .as_str()
            .unwrap()
            .starts_with("403::To protect all customers from excessive use and Denial of Service"),
        "{third}"
    );
    // The sessions already open go on, and a freed slot can be taken again.
    assert_eq!(first.connect("c").await[0]["successful"], true);
    let bye = json!([{"channel":"/meta/disconnect","clientId":second.id()}]);
    assert_eq!(second.post(bye).await[0]["successful"], true);
    server.client().handshake().await;
}

#[tokio::test]
async fn a_session_may_hold_only_so_many_subscriptions() {
    let server = TestServer::start(EngineConfig {
        max_subscriptions_per_session: 3,
        ..config()
    })
    .await;
    let mut client = server.client();
    client.open().await;
    assert_eq!(
        client.subscribe(json!(["/a", "/b"])).await["successful"],
        true
    );
    let refused = client.subscribe(json!(["/c", "/d"])).await;
    assert_eq!(
        refused["error"],
        "403::Too many subscriptions in one session (the limit is 3)"
    );
    // Nothing of a refused request was applied; what fits still does.
    assert_eq!(
        client.subscribe(json!(["/a", "/c"])).await["successful"],
        true
    );
    assert_eq!(client.connect("c").await[0]["successful"], true);
}

/// Reads from `socket` until the server closes it; what it sent meanwhile.
async fn until_closed(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received));
    read.await
        .expect("the server kept the socket open")
        .unwrap();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(EngineConfig {
        header_read_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut partial = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"POST /cometd/66.0 HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    until_closed(&mut partial).await;
    until_closed(&mut silent).await;
    // Everyone else is served as before.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
