//! The HTTP surface: `/cometd/…` for both transports and `/healthz`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::transport::{long_polling, websocket, AppState};

/// The router for the Bayeux endpoint and health check.
pub fn router(state: AppState) -> Router {
    let cometd = get(websocket::upgrade).post(long_polling::handle);
    Router::new()
        .route("/cometd", cometd.clone())
        .route("/cometd/", cometd.clone())
        .route("/cometd/{*rest}", cometd)
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// `GET /healthz`: 200 with a small JSON status while the server is serving.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let engine = &state.engine;
    let status = if engine.is_shutting_down() {
        "stopping"
    } else {
        "ok"
    };
    let log = engine.log().stats();
    let mut body = serde_json::json!({
        "status": status,
        "sessions": engine.session_count(),
        "websockets": state.tracker.count(),
        "log": {
            "head": log.head,
            "events": log.events,
            "expired": log.expired,
            "disk_bytes": log.disk_bytes,
        },
    });
    if let Some(node) = engine.log().node_report() {
        body["cluster"] = serde_json::json!({
            "node": node.node_id,
            "nats": node.connection,
            "server": node.server,
            "stream": node.stream,
            "replicas": node.replicas,
            "lag": node.lag,
            "nodes": node.nodes.iter().map(|n| &n.node_id).collect::<Vec<_>>(),
        });
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}
