//! The transports: how Bayeux messages reach the engine and replies leave it.
//!
//! `long_polling.rs` is HTTP POST (a connect is held in the request), `websocket.rs` a socket
//! per client (messages pushed as they come). Both hand every message to the same
//! [`Engine::handle`](crate::engine::Engine::handle). `endpoint.rs` reads the API version from
//! the path and `cookie.rs` sets `BAYEUX_BROWSER`. `http1/` is the lean HTTP/1.1 path every
//! connection starts on: it answers plain long-polling POSTs itself and hands anything else
//! to hyper.

pub mod cookie;
pub mod endpoint;
pub mod http1;
pub mod in_flight;
pub mod long_polling;
pub mod outbox;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use tokio::sync::Notify;

use crate::engine::Engine;
use crate::policy::Credentials;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub tracker: Arc<ConnectionTracker>,
}

/// Counts open WebSocket connections so a graceful shutdown can wait for them: upgraded
/// sockets leave hyper's own connection tracking.
#[derive(Debug, Default)]
pub struct ConnectionTracker {
    open: AtomicUsize,
    closed: Notify,
}

impl ConnectionTracker {
    /// Marks a connection open until the returned guard drops.
    pub fn open(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::SeqCst);
        OpenConnection {
            tracker: Arc::clone(self),
        }
    }

    /// Number of open connections.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits until every connection has closed.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps a connection counted while alive.
pub struct OpenConnection {
    tracker: Arc<ConnectionTracker>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.tracker.open.fetch_sub(1, Ordering::SeqCst);
        self.tracker.closed.notify_waiters();
    }
}

/// The credentials a request carries.
pub(crate) fn credentials(headers: &HeaderMap, peer: Option<SocketAddr>) -> Credentials {
    Credentials {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        remote_addr: peer,
    }
}
