//! The Bayou server: the Bayeux engine and its HTTP transports.
//!
//! - [`engine`]: sessions, subscriptions and delivery queues — who gets what. It knows nothing
//!   of HTTP.
//! - [`transport`]: long-polling and WebSocket — how bytes reach the engine and leave it.
//! - [`http`]: the routes.
//! - [`policy`]: the security policy — who may handshake, subscribe and publish.
//!
//! Where things happen: a `/meta/connect` is held in `engine/connect.rs` (the decision) and
//! `transport/long_polling.rs` / `transport/websocket.rs` (the waiting); the log's tail is
//! followed and fanned out in `engine/dispatcher.rs`; a replay backlog is read in
//! `engine/replay.rs`; subscriptions are routed through `engine/subscriptions.rs`.
//!
//! [`Server`] ties them together for the `bayou` binary and for tests.

#![forbid(unsafe_code)]

mod accept;
pub mod config;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod transport;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bayou_log::{EventLog, UsageCounters};
use tokio::net::TcpListener;

pub use config::{EngineConfig, TransportKind};
pub use engine::Engine;
pub use policy::{AllowAll, Credentials, DeliveryFilter, Denial, Principal, SecurityPolicy};
use transport::{AppState, ConnectionTracker};

/// A Bayou server: an engine plus its HTTP routes.
pub struct Server {
    state: AppState,
}

impl Server {
    /// A server with `config`, admitting clients through `policy`, keeping events in `log`
    /// and counting daily deliveries in `counters`.
    pub fn new(
        config: EngineConfig,
        policy: Arc<dyn SecurityPolicy>,
        log: Arc<dyn EventLog>,
        counters: Arc<dyn UsageCounters>,
    ) -> Self {
        Self {
            state: AppState {
                engine: Engine::new(config, policy, log, counters),
                tracker: Arc::new(ConnectionTracker::default()),
            },
        }
    }

    /// The engine, to publish from the server side or register services.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.state.engine
    }

    /// The Bayeux and health routes.
    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    /// Serves `router` (the Bayeux routes plus any the caller merged in) on `listener` until
    /// `shutdown` completes, then stops gracefully: every held connect is answered, WebSocket
    /// clients get their pending replies and a close frame, and in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let engine = Arc::clone(&self.state.engine);
        let sweeper = engine.spawn_sweeper();
        let dispatcher = engine.spawn_dispatcher();
        let stopping = Arc::clone(&engine);
        let sockets = accept::SocketOptions {
            header_read_timeout: engine.config().header_read_timeout,
            send_buffer: engine.config().socket_send_buffer,
        };
        let bayeux = self.state.clone();
        let result = accept::serve(listener, router, bayeux, sockets, async move {
            shutdown.await;
            tracing::info!("shutting down: answering held connects");
            stopping.shutdown();
        })
        .await;
        // Upgraded sockets leave hyper's connections; give them a moment to say goodbye.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.state.tracker.wait_idle()).await;
        sweeper.abort();
        dispatcher.abort();
        result
    }
}
