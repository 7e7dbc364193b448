//! Bayou as a cluster, as users run it: real `nats-server` processes and several `bayou serve
//! --cluster` processes on loopback, clients on any node, nodes killed with SIGKILL.
//!
//! - `sharing`: one org across three nodes — tokens, sessions, events, revocations, status.
//! - `failover`: a node killed under load; its clients move and lose and repeat nothing.
//! - `nats_failures`: NATS servers killed under a replicated stream, and NATS restarted.
//! - `secured`: NATS with TLS and a token; wrong ones refused at start in one line.
//! - `pubsub`: the Pub/Sub API of one node reads what another node published.
//!
//! Every test here starts its own NATS and its own nodes, and holds [`crate::EXCLUSIVE`]
//! alone: a cluster on two cores is load enough.

mod failover;
mod nats_failures;
mod pubsub;
mod secured;
mod sharing;

use std::time::Duration;

use bayou_testkit::NatsServer;
use serde_json::{json, Value};

use crate::hostile::Target;
use crate::serve_process::ServeProcess;

pub const USER: &str = crate::hostile::USER;
pub const PASSWORD: &str = crate::hostile::PASSWORD;
pub const ADMIN: &str = "cluster-admin";

/// One Bayou node of the cluster under test.
pub struct Node {
    /// The `bayou serve` process: killed with SIGKILL when the node is dropped.
    _process: ServeProcess,
    pub target: Target,
    /// The node's Pub/Sub API (`https://127.0.0.1:PORT`).
    pub pubsub: String,
    /// Its data directory (where its generated certificate is).
    pub dir: tempfile::TempDir,
}

/// `bayou serve --cluster <urls> --node-id <name>`, with the suite's user and connected app.
pub fn start_node(nats_urls: &str, name: &str, extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--cluster",
        nats_urls,
        "--node-id",
        name,
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--client-id",
        "hostile-client",
        "--client-secret",
        "hostile-secret",
        "--admin-token",
        ADMIN,
    ];
    args.extend_from_slice(extra);
    let process = ServeProcess::start(dir.path(), &args, None);
    let target = Target {
        origin: process.origin.clone(),
        http: reqwest::Client::new(),
        pid: process.child.id(),
    };
    Node {
        pubsub: process.pubsub.clone().unwrap_or_default(),
        _process: process,
        target,
        dir,
    }
}

/// `bayou serve` with these extra flags, which must refuse to start: its stderr. It must never
/// have listened (nothing on stdout).
pub fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bayou"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "it must not start with {args:?}");
    assert!(output.stdout.is_empty(), "it never listened");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every NATS server's URL, comma-separated.
pub fn urls(servers: &[NatsServer]) -> String {
    servers
        .iter()
        .map(|s| s.url.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// A long-polling session subscribed to `channel` from `replay` (-1, -2 or an id).
pub async fn subscribe(target: &Target, auth: &str, channel: &str, replay: i64) -> String {
    let client_id = target.handshake(auth).await;
    let (_, replies) = target
        .bayeux(
            auth,
            json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":channel,
                    "ext":{"replay":{channel: replay}}}]),
        )
        .await;
    assert_eq!(replies[0]["successful"], true, "subscribe: {replies}");
    client_id
}

/// One `/meta/connect` of a long-polling session: its replies (the connect's own last).
pub async fn connect(target: &Target, auth: &str, client_id: &str) -> Vec<Value> {
    let (_, replies) = target
        .bayeux(
            auth,
            json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling",
                    "advice":{"timeout":0}}]),
        )
        .await;
    replies.as_array().cloned().unwrap_or_default()
}

/// A Bayeux publish: the reply.
pub async fn publish(
    target: &Target,
    auth: &str,
    client_id: &str,
    channel: &str,
    data: Value,
) -> Value {
    let (_, replies) = target
        .bayeux(
            auth,
            json!([{"channel":channel,"clientId":client_id,"data":data}]),
        )
        .await;
    replies[0].clone()
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The replay id of a delivered event (`data.event.replayId` on Salesforce's channels,
/// `ext.replayId` on generic ones).
pub fn replay_id_of(event: &Value) -> Option<u64> {
    event["data"]["event"]["replayId"]
        .as_u64()
        .or_else(|| event["ext"]["replayId"].as_u64())
}
