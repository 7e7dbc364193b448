//! The lean HTTP/1.1 long-polling path over raw TCP: keep-alive, pipelining, a held connect
//! ended by its client closing, hand-over to hyper in the middle of a connection, timeouts.

use std::sync::Arc;
use std::time::Duration;

use bayou_server::engine::Session;
use bayou_server::EngineConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::{quick_config, TestServer};

/// One HTTP/1.1 connection, requests written by hand, responses read by `Content-Length`.
struct Raw {
    socket: TcpStream,
    read: Vec<u8>,
}

struct RawResponse {
    status: u16,
    head: String,
    body: Value,
}

impl Raw {
    async fn open(server: &TestServer) -> Self {
        Self {
            socket: TcpStream::connect(server.addr).await.unwrap(),
            read: Vec::new(),
        }
    }

    fn post_bytes(path: &str, body: &Value, extra: &str) -> Vec<u8> {
        let body = body.to_string();
        format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).await.unwrap();
    }

    async fn post(&mut self, body: &Value) -> RawResponse {
        self.send(&Self::post_bytes("/cometd/66.0", body, "")).await;
        self.response().await
    }

    /// Reads one response (Content-Length bodies only, as Bayou sends).
    async fn response(&mut self) -> RawResponse {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.read[..end].to_vec()).unwrap();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .expect("a content-length");
                let total = end + 4 + length;
                if self.read.len() >= total {
                    let body = serde_json::from_slice(&self.read[end + 4..total]).unwrap();
                    self.read.drain(..total);
                    let status = head[9..12].parse().unwrap();
                    return RawResponse { status, head, body };
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.socket.read(&mut chunk))
                .await
                .expect("no response in time")
                .unwrap();
            assert!(n > 0, "closed before a whole response");
            self.read.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closes the connection within `within`.
    async fn closed_within(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(within, self.socket.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn handshake() -> Value {
    json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1",
            "supportedConnectionTypes": ["long-polling"]}])
}

fn connect(client_id: &str, id: &str) -> Value {
    json!([{"channel": "/meta/connect", "clientId": client_id, "id": id,
            "connectionType": "long-polling"}])
}

/// Handshake, first connect and a subscription to `/chat/a` on `raw`; the client id.
async fn open_and_subscribe(raw: &mut Raw) -> String {
    let reply = raw.post(&handshake()).await;
    assert_eq!(reply.status, 200);
    assert!(reply.head.contains("set-cookie: BAYEUX_BROWSER="));
    assert!(reply.head.contains("x-content-type-options: nosniff"));
    assert!(reply
        .head
        .contains("content-type: application/json;charset=UTF-8"));
    let client_id = reply.body[0]["clientId"].as_str().unwrap().to_owned();
    raw.post(&connect(&client_id, "c0")).await;
    let subscribed = raw
        .post(
            &json!([{"channel": "/meta/subscribe", "clientId": client_id, "id": "s",
                       "subscription": "/chat/a"}]),
        )
        .await;
    assert_eq!(subscribed.body[0]["successful"], true);
    client_id
}

/// Waits until `done` holds (checked every few milliseconds), at most 5 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A server holding connects for 30 s, and a session subscribed to `/chat/a` whose connect is
/// being held on `raw`'s connection.
async fn held_connect() -> (TestServer, Raw, Arc<Session>) {
    let server = TestServer::start(EngineConfig {
        timeout: Duration::from_secs(30),
        ..quick_config()
    })
    .await;
    let mut raw = Raw::open(&server).await;
    let client_id = open_and_subscribe(&mut raw).await;
    let held = Raw::post_bytes("/cometd/66.0", &connect(&client_id, "c1"), "");
    raw.send(&held).await;
    let session = server.engine.session(&client_id).unwrap();
    until("the connect is held", || session.is_holding()).await;
    (server, raw, session)
}

#[tokio::test]
async fn a_held_connect_on_a_kept_alive_connection_gets_the_publish() {
    let (server, mut raw, _session) = held_connect().await;
    let mut publisher = server.client();
    publisher.open().await;
    publisher
        .post(
            json!([{"channel": "/chat/a", "clientId": publisher.id(), "id": "p",
                      "data": {"text": "hello"}}]),
        )
        .await;
    let held = raw.response().await;
    assert_eq!(held.status, 200);
    let messages = held.body.as_array().unwrap();
    assert_eq!(messages[0]["data"]["text"], "hello");
    assert_eq!(messages.last().unwrap()["channel"], "/meta/connect");
    assert_eq!(messages.last().unwrap()["successful"], true);
    assert!(held.head.contains("date: "));
    server.stop().await;
}

#[tokio::test]
async fn a_client_closing_its_connection_ends_the_hold() {
    let (server, raw, session) = held_connect().await;
    drop(raw);
    until("the hold ends with its connection", || {
        !session.is_holding()
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(quick_config()).await;
    let mut raw = Raw::open(&server).await;
    let mut both = Raw::post_bytes("/cometd/66.0", &handshake(), "");
    both.extend(Raw::post_bytes("/cometd/66.0", &handshake(), ""));
    raw.send(&both).await;
    let first = raw.response().await;
    let second = raw.response().await;
    assert_eq!(first.body[0]["channel"], "/meta/handshake");
    assert_eq!(second.body[0]["successful"], true);
    assert_ne!(first.body[0]["clientId"], second.body[0]["clientId"]);
    server.stop().await;
}

#[tokio::test]
async fn other_requests_hand_the_connection_to_hyper_mid_way() {
    let server = TestServer::start(quick_config()).await;
    let mut raw = Raw::open(&server).await;
    let reply = raw.post(&handshake()).await;
    assert_eq!(reply.status, 200);
    raw.send(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let health = raw.response().await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    // hyper now has the connection, and serves the Bayeux endpoint as before.
    let chunked = handshake().to_string();
    let request = format!(
        "POST /cometd/66.0 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{chunked}\r\n0\r\n\r\n",
        chunked.len()
    );
    raw.send(request.as_bytes()).await;
    let reply = raw.response().await;
    assert_eq!(reply.body[0]["successful"], true);
    let again = raw.post(&handshake()).await;
    assert_eq!(again.body[0]["successful"], true);
    server.stop().await;
}

#[tokio::test]
async fn errors_keep_their_shape_on_the_lean_path() {
    let server = TestServer::start(quick_config()).await;
    let mut raw = Raw::open(&server).await;
    let request = "POST /cometd/66.0 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n[{,]}";
    raw.send(request.as_bytes()).await;
    let malformed = raw.response().await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body[0]["channel"], "/meta/unsuccessful");
    assert_eq!(malformed.body[0]["successful"], false);
    // No version in the path: every message refused with Salesforce's error.
    raw.send(&Raw::post_bytes("/cometd", &handshake(), ""))
        .await;
    let unversioned = raw.response().await;
    assert_eq!(unversioned.status, 200);
    assert_eq!(unversioned.body[0]["successful"], false);
    assert!(unversioned.body[0]["error"]
        .as_str()
        .unwrap()
        .contains("API version"));
    // Over the size limit: hyper answers, in Bayeux's shape, and closes.
    let big = format!(
        "POST /cometd/66.0 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        server.engine.config().max_request_bytes + 1
    );
    raw.send(big.as_bytes()).await;
    let refused = raw.response().await;
    assert_eq!(refused.status, 413);
    assert_eq!(
        refused.body[0]["error"],
        "413::Maximum Request Size Exceeded"
    );
    assert!(raw.closed_within(Duration::from_secs(5)).await);
    server.stop().await;
}

#[tokio::test]
async fn connection_close_and_slow_heads_end_the_connection() {
    let server = TestServer::start(EngineConfig {
        header_read_timeout: Duration::from_millis(300),
        ..quick_config()
    })
    .await;
    let mut raw = Raw::open(&server).await;
    raw.send(&Raw::post_bytes(
        "/cometd/66.0",
        &handshake(),
        "Connection: close\r\n",
    ))
    .await;
    let reply = raw.response().await;
    assert!(reply.head.contains("connection: close"));
    assert!(raw.closed_within(Duration::from_secs(5)).await);

    // Half a head, then nothing: closed after the header timeout.
    let mut slow = Raw::open(&server).await;
    slow.send(b"POST /cometd/66.0 HTTP/1.1\r\nContent-Le").await;
    assert!(slow.closed_within(Duration::from_secs(5)).await);
    // And an idle kept-alive connection too.
    let mut idle = Raw::open(&server).await;
    idle.post(&handshake()).await;
    assert!(idle.closed_within(Duration::from_secs(5)).await);
    server.stop().await;
}
