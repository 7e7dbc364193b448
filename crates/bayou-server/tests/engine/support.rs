//! A server started in-process on 127.0.0.1:0, and small HTTP / WebSocket clients for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bayou_log::embedded::MemoryCounters;
use bayou_log::{EmbeddedLog, EmbeddedOptions, EventLog, NewEvent};
use bayou_protocol::{encode_bayeux_event, ChannelName};
use bayou_server::policy::SecurityPolicy;
use bayou_server::{AllowAll, Engine, EngineConfig, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Settings that keep tests quick: connects are held 1 s, sessions expire after 1 s.
pub fn quick_config() -> EngineConfig {
    EngineConfig {
        timeout: Duration::from_millis(1_000),
        max_interval: Duration::from_millis(1_000),
        ..EngineConfig::default()
    }
}

impl TestServer {
    pub async fn start(config: EngineConfig) -> Self {
        Self::start_with(config, |_| {}).await
    }

    pub async fn start_with(config: EngineConfig, setup: impl FnOnce(&Server)) -> Self {
        Self::start_with_policy(config, Arc::new(AllowAll), setup).await
    }

    pub async fn start_with_policy(
        config: EngineConfig,
        policy: Arc<dyn SecurityPolicy>,
        setup: impl FnOnce(&Server),
    ) -> Self {
        Self::start_on(config, policy, |log| Arc::new(log), setup).await
    }

    /// A server whose embedded log is seen through `wrap` (a test's own `EventLog` around it).
    pub async fn start_on(
        config: EngineConfig,
        policy: Arc<dyn SecurityPolicy>,
        wrap: impl FnOnce(EmbeddedLog) -> Arc<dyn EventLog>,
        setup: impl FnOnce(&Server),
    ) -> Self {
        let data = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(data.path(), EmbeddedOptions::default()).unwrap();
        let counters = Arc::new(MemoryCounters::default());
        let server = Server::new(config, policy, wrap(log), counters);
        setup(&server);
        let engine = Arc::clone(server.engine());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = server.router();
        let task = tokio::spawn(server.serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            engine,
            data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn cometd(&self) -> String {
        self.url("/cometd/66.0")
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/cometd/66.0", self.addr)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }
    }

    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            url: self.cometd(),
            client_id: None,
        }
    }
}

/// A raw long-polling client: posts JSON, returns the status and parsed body.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub client_id: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Client {
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> Response {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, messages: Value) -> Vec<Value> {
        let response = self.post_raw(messages.to_string()).await;
        assert_eq!(response.status, 200, "{}", response.body);
        response.body.as_array().expect("array reply").clone()
    }

    pub fn id(&self) -> &str {
        self.client_id.as_deref().expect("handshake first")
    }

    pub async fn handshake(&mut self) -> Value {
        let replies = self
            .post(json!([{
                "channel": "/meta/handshake", "version": "1.0", "id": "1",
                "supportedConnectionTypes": ["long-polling"]
            }]))
            .await;
        let reply = replies[0].clone();
        assert_eq!(reply["successful"], true, "{reply}");
        self.client_id = Some(reply["clientId"].as_str().unwrap().to_owned());
        reply
    }

    pub async fn connect(&self, id: &str) -> Vec<Value> {
        self.post(json!([{
            "channel": "/meta/connect", "clientId": self.id(), "id": id,
            "connectionType": "long-polling"
        }]))
        .await
    }

    /// Handshake plus the first (immediate) connect.
    pub async fn open(&mut self) {
        self.handshake().await;
        let first = self.connect("c0").await;
        assert_eq!(first.last().unwrap()["successful"], true);
    }

    /// Connects (held up to the server's timeout) until a message whose `data.text` is
    /// `sentinel` arrives; returns the `data.text` of every event received, in order.
    pub async fn texts_until(&self, sentinel: &str) -> Vec<String> {
        let mut texts = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {sentinel:?} after {texts:?}"
            );
            for message in self.connect("t").await {
                if let Some(text) = message["data"]["text"].as_str() {
                    texts.push(text.to_owned());
                    if text == sentinel {
                        return texts;
                    }
                }
            }
        }
    }

    /// Subscribes with an `ext` (a replay map, say); returns the reply.
    pub async fn subscribe_with(&self, subscription: Value, ext: Value) -> Value {
        let replies = self
            .post(json!([{
                "channel": "/meta/subscribe", "clientId": self.id(), "id": "s",
                "subscription": subscription, "ext": ext
            }]))
            .await;
        replies[0].clone()
    }

    pub async fn subscribe(&self, subscription: Value) -> Value {
        let replies = self
            .post(json!([{
                "channel": "/meta/subscribe", "clientId": self.id(), "id": "s",
                "subscription": subscription
            }]))
            .await;
        replies[0].clone()
    }

    pub async fn publish(&self, channel: &str, data: Value) -> Value {
        let replies = self
            .post(json!([{
                "channel": channel, "clientId": self.id(), "id": "p", "data": data
            }]))
            .await;
        replies[0].clone()
    }
}

/// A raw WebSocket client.
pub struct WsClient {
    pub socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsClient {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { socket }
    }

    pub async fn send(&mut self, messages: Value) {
        self.socket
            .send(WsMessage::text(messages.to_string()))
            .await
            .unwrap();
    }

    /// The next text frame, parsed; panics after `within`.
    pub async fn next_frame(&mut self, within: Duration) -> Vec<Value> {
        loop {
            let frame = tokio::time::timeout(within, self.socket.next())
                .await
                .expect("no frame in time")
                .expect("socket closed")
                .unwrap();
            if let WsMessage::Text(text) = frame {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                return value.as_array().expect("frame is an array").clone();
            }
        }
    }

    /// Frames until one contains a message on `channel`; returns all messages seen.
    pub async fn until_channel(&mut self, channel: &str, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_frame(left).await;
            let found = frame.iter().any(|m| m["channel"] == channel);
            seen.extend(frame);
            if found {
                return seen;
            }
        }
    }
}

pub const LIMIT: Duration = Duration::from_secs(10);

pub fn long_hold() -> EngineConfig {
    EngineConfig {
        timeout: Duration::from_secs(60),
        max_interval: Duration::from_secs(60),
        ..EngineConfig::default()
    }
}

pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

/// Waits until `condition` holds, polling; fails after the test limit.
pub async fn eventually(mut condition: impl FnMut() -> bool) {
    within(async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

pub async fn publish(server: &TestServer, name: &str, text: &str) -> u64 {
    server
        .engine
        .publish(&channel(name), data(text))
        .await
        .unwrap()
}

/// Events on `name` with `{"text": …}` data, to append in one batch.
pub fn events(name: &str, texts: impl IntoIterator<Item = String>) -> Vec<NewEvent> {
    texts
        .into_iter()
        .map(|text| {
            let name = name.to_owned();
            NewEvent {
                channel: name.clone(),
                encode: Box::new(move |id, at| encode_bayeux_event(&name, &data(&text), id, at)),
                audience: None,
            }
        })
        .collect()
}

/// A CometD-style handshake over the socket; returns the clientId.
pub async fn ws_handshake(ws: &mut WsClient) -> String {
    ws.send(
        json!([{"channel":"/meta/handshake","version":"1.0","id":"1",
                    "supportedConnectionTypes":["websocket"]}]),
    )
    .await;
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(frame[0]["successful"], true, "{frame:?}");
    frame[0]["clientId"].as_str().unwrap().to_owned()
}

pub fn data(text: &str) -> Box<RawValue> {
    RawValue::from_string(json!({ "text": text }).to_string()).unwrap()
}

pub fn channel(name: &str) -> ChannelName {
    ChannelName::parse(name).unwrap()
}
