//! The accept loop: every connection served by hyper with a timer, so that a client that
//! sends half a request header — or nothing at all — is disconnected after
//! `header_read_timeout` instead of holding its socket for ever (slowloris). axum's own
//! `serve` gives hyper no timer, which leaves those timeouts off.
//!
//! Each socket's kernel send buffer is bounded (`socket_send_buffer`), so that a client that
//! stops reading shows as a stalled write after a few hundred kilobytes, not after the
//! megabytes Linux would otherwise buffer for it (see docs/benchmarks.md, slow consumers).
//!
//! Otherwise it does what `axum::serve` does: `TCP_NODELAY` on each socket (a delivery is one
//! small write, often right after another; with Nagle's algorithm it would wait for the
//! client's delayed ACK), the peer address in each request's `ConnectInfo`, upgrades for
//! WebSocket, and a graceful stop: on shutdown every connection finishes the request it is
//! serving and closes, and `serve` returns once all have.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::transport::http1::{self as lean, Served};
use crate::transport::AppState;

/// What every accepted connection gets.
#[derive(Debug, Clone, Copy)]
pub struct SocketOptions {
    /// See [`EngineConfig::header_read_timeout`](crate::EngineConfig::header_read_timeout).
    pub header_read_timeout: Duration,
    /// `SO_SNDBUF` in bytes; zero: the kernel's own sizing. See
    /// [`EngineConfig::socket_send_buffer`](crate::EngineConfig::socket_send_buffer).
    pub send_buffer: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops gracefully. Each
/// connection starts on the lean long-polling path for `bayeux`
/// ([`transport::http1`](crate::transport::http1)) and is handed to hyper and `router` at its
/// first request that is not a plain long-polling POST.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    bayeux: AppState,
    options: SocketOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `stop` is dropped to tell connections to finish; each holds an `open` receiver until it
    // has, so `open.closed()` resolves once every connection is gone.
    let (stop, stopped) = watch::channel(());
    let (open, open_receiver) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        if options.send_buffer > 0 {
            // socket2: the safe setsockopt, already in the tree through tokio and hyper.
            let sized = socket2::SockRef::from(&socket).set_send_buffer_size(options.send_buffer);
            if let Err(e) = sized {
                tracing::debug!(error = %e, "cannot set SO_SNDBUF");
            }
        }
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request.map(axum::body::Body::new)
            });
        let mut stop = stopped.clone();
        let connection_open = open_receiver.clone();
        let bayeux = bayeux.clone();
        tokio::spawn(async move {
            let timeout = options.header_read_timeout;
            let socket = match lean::serve(socket, peer, &bayeux, timeout, &mut stop).await {
                Served::Closed => return drop(connection_open),
                Served::HandOver(socket) => socket,
            };
            drop(bayeux);
            // HTTP/1.1 only, as before (axum is built without HTTP/2): hyper's version sniffing
            // would itself wait, untimed, for a silent client's first bytes.
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(socket), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::trace!(error = %e, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(connection_open);
        });
    }
    drop(stop);
    drop(listener);
    drop(open_receiver);
    open.closed().await;
    Ok(())
}
