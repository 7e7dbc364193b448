//! What only the client tests need, on top of the shared harness (`bayou-testkit`): a
//! client builder with fast retries, collecting events and waiting for notices, and a proxy
//! that freezes a connection to simulate a silent stall.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use bayou_testkit::*;

use bayou_client::{Client, Event, Events, Notice, PasswordFlow};
use bayou_org::OrgConfig;
use bayou_server::EngineConfig;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Short holds and a short session expiry, so recovery happens in seconds.
pub fn fast_config() -> EngineConfig {
    EngineConfig {
        timeout: Duration::from_millis(1_500),
        max_interval: Duration::from_millis(2_000),
        ..EngineConfig::default()
    }
}

/// An org with default settings and a server with `engine`.
pub async fn start_engine(engine: EngineConfig) -> Bayou {
    Bayou::start(OrgConfig::default(), engine).await
}

/// Logs in as the harness's user.
pub fn password_flow(bayou: &Bayou) -> PasswordFlow {
    PasswordFlow::new(&bayou.base, CLIENT, SECRET, USER, PASSWORD)
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
        .auth(password_flow(bayou))
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
