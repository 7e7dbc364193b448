//! Bayou in-process on 127.0.0.1, restartable on the same port and data directory; a raw
//! HTTP publisher that does not use the client under test; helpers to collect events and
//! wait for notices.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bayou_client::{Client, Event, Events, Notice, PasswordFlow};
use bayou_log::{EmbeddedOptions, Storage};
use bayou_org::identity::CredentialOverrides;
use bayou_org::{Org, OrgConfig};
use bayou_server::{EngineConfig, Server};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub const USER: &str = "dev@example.com";
pub const PASSWORD: &str = "correct horse";
pub const CLIENT: &str = "test-client";
pub const SECRET: &str = "test-secret";
pub const ADMIN: &str = "admin-secret";

/// Short holds and a short session expiry, so recovery happens in seconds.
pub fn fast_config() -> EngineConfig {
    EngineConfig {
        timeout: Duration::from_millis(1_500),
        max_interval: Duration::from_millis(2_000),
        ..EngineConfig::default()
    }
}

/// Logs of the client and server when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub struct Bayou {
    pub base: String,
    pub http: reqwest::Client,
    addr: SocketAddr,
    data: tempfile::TempDir,
    config: EngineConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Bayou {
    pub async fn start(config: EngineConfig) -> Self {
        init_logs();
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bayou = Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            addr,
            data,
            config,
            stop: None,
            task: None,
        };
        bayou.serve(listener).await;
        bayou
    }

    fn data_dir(&self) -> PathBuf {
        self.data.path().to_owned()
    }

    async fn serve(&mut self, listener: tokio::net::TcpListener) {
        let dir = self.data_dir();
        let overrides = CredentialOverrides {
            username: Some(USER.into()),
            password: Some(PASSWORD.into()),
            client_id: Some(CLIENT.into()),
            client_secret: Some(SECRET.into()),
            extra_users: Vec::new(),
        };
        // The previous server's log may take a moment to be released after it stopped.
        let storage = {
            let mut attempts = 0;
            loop {
                let opened = Storage::embedded(
                    &dir.join("log"),
                    EmbeddedOptions::default(),
                    OrgConfig::default().session_timeout,
                );
                match opened {
                    Ok(storage) => break storage,
                    Err(e) if attempts < 50 => {
                        attempts += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("cannot reopen the log: {e}"),
                }
            }
        };
        let (org, _) = Org::open(&dir, &overrides, OrgConfig::default(), &storage)
            .await
            .unwrap();
        let server = Server::new(
            self.config.clone(),
            org.clone(),
            storage.log,
            storage.counters,
        );
        let admin =
            bayou_org::admin::router(org.clone(), server.engine().clone(), Some(ADMIN.to_owned()));
        let router = server
            .router()
            .merge(org.router(server.engine()))
            .merge(admin);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = server
                .serve(listener, router, async move {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Stops the server (gracefully) and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops the server and starts a new one on the same port with the same data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener).await;
    }

    pub fn password_flow(&self) -> PasswordFlow {
        PasswordFlow::new(&self.base, CLIENT, SECRET, USER, PASSWORD)
    }

    pub async fn token(&self) -> String {
        let response = self
            .http
            .post(format!("{}/services/oauth2/token", self.base))
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("username", USER),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Calls the fault injection API.
    pub async fn fault(&self, action: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/admin/faults/{action}", self.base))
            .bearer_auth(ADMIN)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "fault {action}");
        response.json().await.unwrap()
    }

    pub async fn bayeux(&self, auth: &str, messages: Value) -> Vec<Value> {
        let response = self
            .http
            .post(format!("{}/cometd/66.0", self.base))
            .header("authorization", auth)
            .body(messages.to_string())
            .send()
            .await
            .unwrap();
        response
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Publishes `{"n": i}` for every `i` in `range` on `channel` over plain HTTP, from a
    /// session of its own; returns the replay ids the server acknowledged.
    pub async fn publish(&self, channel: &str, range: std::ops::Range<u64>) -> Vec<i64> {
        let auth = format!("Bearer {}", self.token().await);
        let handshake = self
            .bayeux(&auth, json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
            .await;
        let client_id = handshake[0]["clientId"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for n in range {
            let reply = self
                .bayeux(&auth, json!([{"channel":channel,"clientId":client_id,"id":n.to_string(),"data":{"n":n}}]))
                .await;
            assert_eq!(reply[0]["successful"], true, "{reply:?}");
            ids.push(reply[0]["ext"]["replayId"].as_i64().unwrap_or(-1));
        }
        self.bayeux(
            &auth,
            json!([{"channel":"/meta/disconnect","clientId":client_id}]),
        )
        .await;
        ids
    }
}

impl Drop for Bayou {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Takes events until `count` have arrived (or fails after `within`).
pub async fn take(events: &mut Events, count: usize, within: Duration) -> Vec<Event> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while got.len() < count {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) => got.push(event),
            Ok(None) => panic!("the event stream ended after {} events", got.len()),
            Err(_) => panic!(
                "only {} of {count} events within {within:?}: {:?}",
                got.len(),
                numbers(&got)
            ),
        }
    }
    got
}

/// The `n` of each event.
pub fn numbers(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.data["n"].as_u64().unwrap_or(u64::MAX))
        .collect()
}

/// Asserts that no further event arrives within `quiet`.
pub async fn assert_no_more(events: &mut Events, quiet: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(quiet, events.next()).await {
        panic!("unexpected extra event {:?}", event.message);
    }
}

/// Waits for a notice matching `pred`; returns it.
pub async fn notice(
    notices: &mut broadcast::Receiver<Notice>,
    within: Duration,
    pred: impl Fn(&Notice) -> bool,
) -> Notice {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, notices.recv()).await {
            Ok(Ok(n)) if pred(&n) => return n,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("notices ended: {e}"),
            Err(_) => panic!("no matching notice within {within:?}"),
        }
    }
}

pub fn subscribed(channel: &'static str) -> impl Fn(&Notice) -> bool {
    move |n| matches!(n, Notice::Subscribed { channel: c, .. } if c == channel)
}

/// A client of `bayou` with fast retries.
pub fn client_for(
    bayou: &Bayou,
    transport: bayou_client::TransportKind,
) -> bayou_client::ClientBuilder {
    Client::builder()
        .instance_url(&bayou.base)
        .auth(bayou.password_flow())
        .transport(transport)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .stall_grace(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
}

/// A TCP proxy in front of a server that can be frozen: while frozen it accepts and holds
/// connections but forwards nothing, in either direction — a silent stall, as a dead NAT
/// entry or a hung load balancer produces.
pub struct FreezingProxy {
    pub base: String,
    frozen: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl FreezingProxy {
    pub async fn start(upstream: &str) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                connections.push(tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pipe(client_read, server_write, flag.clone());
                    let down = pipe(server_read, client_write, flag);
                    let _ = tokio::join!(up, down);
                }));
                connections.retain(|c| !c.is_finished());
            }
        });

        async fn pipe(
            mut from: tokio::net::tcp::OwnedReadHalf,
            mut to: tokio::net::tcp::OwnedWriteHalf,
            frozen: Arc<AtomicBool>,
        ) {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                while frozen.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let n = match from.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                // Bytes read just before a freeze are held too.
                while frozen.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if to.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }

        Self { base, frozen, task }
    }

    pub fn freeze(&self, frozen: bool) {
        self.frozen
            .store(frozen, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until every one of `channels` is subscribed, in any order.
pub async fn all_subscribed(notices: &mut broadcast::Receiver<Notice>, channels: &[&str]) {
    let mut missing: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
    while !missing.is_empty() {
        let n = notice(
            notices,
            Duration::from_secs(20),
            |n| matches!(n, Notice::Subscribed { channel, .. } if missing.contains(channel)),
        )
        .await;
        if let Notice::Subscribed { channel, .. } = n {
            missing.retain(|c| *c != channel);
        }
    }
}
