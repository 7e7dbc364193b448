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
    let body = format!(
        r#"{{"status":"{status}","sessions":{},"websockets":{},"log":{{"head":{},"events":{},"expired":{},"disk_bytes":{}}}}}"#,
        engine.session_count(),
        state.tracker.count(),
        log.head,
        log.events,
        log.expired,
        log.disk_bytes
    );
    ([(header::CONTENT_TYPE, "application/json")], body)
}
