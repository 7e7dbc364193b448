//! Salesforce's Pub/Sub API (`eventbus.v1.PubSub`, gRPC over HTTP/2, Avro events) served from
//! the same event log as the Bayeux endpoint: an event published over REST, Bayeux or gRPC is
//! one event in the log, with one replay id, readable through both APIs.
//!
//! - [`service`]: the RPCs; [`subscribe`] and [`publish`] the two that carry events;
//! - [`auth`]: the `accesstoken`/`tenantid` metadata checked against the org's tokens;
//! - [`topics`]: topic names → the log's channels and their Avro schemas;
//! - [`convert`]: a stored event → its Avro datum, made once per event and shared;
//! - [`status`]: errors with Salesforce's `error-code` trailer;
//! - [`tls`]: the certificate (given, or self-signed into the data directory).

pub mod auth;
pub mod convert;
mod flow;
mod managed;
mod pace;
mod pull;
mod size_limit;
/// The generated messages, service and client (`bayou-pubsub-proto`).
pub use bayou_pubsub_proto as proto;
pub mod publish;
pub mod replay_id;
pub mod service;
pub mod status;
pub mod subscribe;
pub mod tls;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use bayou_log::EventLog;
use bayou_org::Org;
use bayou_server::Engine;

pub use service::PubSubService;

/// Timings of the Pub/Sub API (Salesforce's by default; shorter in tests).
#[derive(Debug, Clone)]
pub struct PubSubConfig {
    /// How long a subscription that is owed events waits with nothing to send before it sends
    /// an empty response carrying the latest replay id (Salesforce: within 270 s).
    pub keepalive: Duration,
    /// How long a subscription may owe nothing (the client requests no events) before it is
    /// closed (Salesforce: 60 s).
    pub idle_timeout: Duration,
    /// How long a `PublishStream` may go without a request before it is closed (Salesforce:
    /// 70 s).
    pub publish_idle_timeout: Duration,
    /// How often a stream with nothing else to do checks that its token is still valid (a
    /// revoked or expired token ends it with Salesforce's auth error).
    pub token_check: Duration,
    /// How long a managed subscription's claim lasts unless its stream renews it (every third
    /// of this): after a node dies, how long its managed subscriptions are refused elsewhere.
    pub managed_claim: Duration,
}

impl Default for PubSubConfig {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(270),
            idle_timeout: Duration::from_secs(60),
            publish_idle_timeout: Duration::from_secs(70),
            token_check: Duration::from_secs(5),
            managed_claim: Duration::from_secs(30),
        }
    }
}

/// What every RPC shares.
pub(crate) struct Inner {
    pub(crate) org: Arc<Org>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) log: Arc<dyn EventLog>,
    /// Committed positions of managed subscriptions.
    pub(crate) positions: Arc<dyn bayou_log::PositionStore>,
    pub(crate) config: PubSubConfig,
    pub(crate) cache: convert::AvroCache,
    pub(crate) pace: pace::Pace,
}

/// Resolves once the engine is shutting down (at once if it already is).
pub(crate) async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held in the caller's future.
    if shutdown.wait_for(|stopping| *stopping).await.is_err() {
        // The engine is gone without saying it stops: nothing will say it now.
        std::future::pending::<()>().await;
    }
}
