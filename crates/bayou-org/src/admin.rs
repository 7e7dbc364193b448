//! The admin API: fault injection for testing streaming clients, off unless an admin token is
//! configured (`--admin-token`). Every call needs `Authorization: Bearer <admin token>`.
//!
//! | `POST /admin/faults/…` | body | effect |
//! |---|---|---|
//! | `expire-session` | `{"clientId":"…"}` or `{"all":true}` | the session is forgotten: its next request gets `403::Unknown client` |
//! | `invalidate-tokens` | `{"username":"…"}` | every token of the user is revoked: `401::Authentication invalid`, advice none |
//! | `drop-connections` | `{}` | every held connect is answered now and every WebSocket closed |
//! | `delay-deliveries` | `{"ms":N}` | events reach subscribers N ms late (0 turns it off) |
//! | `expire-log` | `{"replayId":N}` | events up to N are removed, as retention would: replaying from before N gets the 400 |
//! | `server-disconnect` | `{"clientId":"…"}` or `{"all":true}` | the server ends the session, as Hyperforce autoscaling does: a held connect gets a bare `/meta/disconnect` (API ≥ 64.0) and `403::Unknown client`, advice handshake |
//! | `refuse-handshakes` | `{"count":N}` | the next N handshakes get `403::Handshake denied`, failure reason `403::Organization concurrent user limit exceeded` |
//! | `use-up-allocation` | `{"allocation":"…"}` | the daily delivery allocation is reached now: the next delivery it covers ends the session with `403::Organization total events daily limit exceeded` |
//! | `cdc-gap` | `{"entity":"Account","changeType":"GAP_UPDATE","recordIds":["001…"]}` | a Change Data Capture gap event (`GAP_CREATE`, `GAP_UPDATE`, `GAP_DELETE`, `GAP_UNDELETE`) or `GAP_OVERFLOW` for an entity selected for CDC, header only |
//!
//! `GET /admin/sessions` lists the live sessions; `GET /admin/overview` has every figure of the
//! operator view; `POST /admin/platform-events` defines a
//! platform event type; `GET /admin/cdc` lists the objects selected for Change Data Capture
//! and `POST /admin/cdc` `{"entity":"Account","enabled":true}` selects (or deselects) one;
//! `GET /admin/allocations` shows what the org's allocations stand at. This is how a team
//! reproduces "streaming went silent after three hours" in seconds.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bayou_server::Engine;
use serde_json::{json, Value};

use crate::{bearer_token, Org};

#[derive(Clone)]
struct Admin {
    org: Arc<Org>,
    engine: Arc<Engine>,
    token: Arc<str>,
}

/// The admin routes; with no token configured, none (the paths answer 404).
pub fn router(org: Arc<Org>, engine: Arc<Engine>, token: Option<String>) -> Router {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Router::new();
    };
    let admin = Admin {
        org,
        engine,
        token: Arc::from(token),
    };
    Router::new()
        .route("/admin/sessions", get(sessions))
        .route("/admin/overview", get(overview))
        .route("/admin/faults/{action}", post(fault))
        .route("/admin/platform-events", post(define_event))
        .route("/admin/cdc", get(cdc_entities).post(select_for_cdc))
        .route("/admin/allocations", get(allocations))
        .with_state(admin)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn authorized(admin: &Admin, headers: &HeaderMap) -> bool {
    bearer_matches(headers, &admin.token)
}

/// Whether the request's bearer token is `expected`, compared in constant time (the admin API,
/// and `/metrics` when it is protected).
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    bearer_token(headers).is_some_and(|token| same(&token, expected))
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "admin token required")
}

async fn sessions(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    let sessions: Vec<Value> = admin
        .engine
        .session_ids()
        .into_iter()
        .filter_map(|id| admin.engine.session(&id))
        .map(|s| json!({"clientId": s.id(), "subscriptions": s.subscriptions(), "queued": s.queued(), "userId": s.principal().user_id}))
        .collect();
    Json(json!({"sessions": sessions})).into_response()
}

/// `GET /admin/overview`: every figure of the operator view (see [`crate::overview`]).
async fn overview(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    Json(crate::overview::Overview::collect(
        &admin.org,
        &admin.engine,
    ))
    .into_response()
}

/// `POST /admin/platform-events` `{"name":"Low_Ink__e","fields":{"Printer_Model__c":"text"}}`:
/// defines (or redefines) a platform event type.
async fn define_event(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    let event_type: crate::events::EventType = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"name\", \"fields\"}}: {e}"),
            )
        }
    };
    let name = event_type.name.clone();
    match admin.org.define_event(event_type).await {
        Ok(()) => Json(json!({"defined": name})).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn cdc_entities(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    Json(json!({"entities": admin.org.cdc_entities()})).into_response()
}

/// `POST /admin/cdc` `{"entity":"Account","enabled":true}` (`enabled` defaults to true).
async fn select_for_cdc(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(entity) = body.get("entity").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "give \"entity\" (and \"enabled\")");
    };
    let enabled = body.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    match admin.org.select_for_cdc(entity, enabled).await {
        Ok(_) => Json(json!({"entities": admin.org.cdc_entities()})).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// `GET /admin/allocations`: each allocation's maximum and what is used of it.
async fn allocations(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    let daily: Vec<Value> = admin
        .engine
        .allocation_usage()
        .into_iter()
        .map(|u| json!({"name": u.name, "max": u.per_day, "used": u.used, "remaining": u.per_day.saturating_sub(u.used)}))
        .collect();
    let config = admin.org.config();
    Json(json!({
        "concurrentClients": {"max": admin.engine.config().max_sessions, "used": admin.engine.session_count()},
        "pushTopics": {"max": config.max_push_topics, "used": admin.org.topics().len()},
        "streamingChannels": {"max": config.max_streaming_channels, "used": admin.org.streaming_channels().len()},
        "dailyDeliveries": daily,
    }))
    .into_response()
}

async fn fault(
    State(admin): State<Admin>,
    axum::extract::Path(action): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&admin, &headers) {
        return unauthorized();
    }
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
        }
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| body.get(name).and_then(Value::as_u64);
    let reply = match action.as_str() {
        "expire-session" | "server-disconnect" => {
            let ids = if body.get("all") == Some(&Value::Bool(true)) {
                admin.engine.session_ids()
            } else if let Some(id) = text("clientId") {
                vec![id]
            } else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give \"clientId\" or \"all\": true",
                );
            };
            let ended = ids
                .iter()
                .filter(|id| match action.as_str() {
                    "expire-session" => admin.engine.expire_session(id),
                    _ => admin.engine.server_disconnect(id),
                })
                .count();
            match action.as_str() {
                "expire-session" => json!({"expired": ended}),
                _ => json!({"disconnected": ended}),
            }
        }
        "refuse-handshakes" => {
            let Some(count) = number("count") else {
                return error(StatusCode::BAD_REQUEST, "give \"count\"");
            };
            admin.engine.refuse_next_handshakes(count);
            json!({"refusing": count})
        }
        "use-up-allocation" => {
            let Some(name) = text("allocation") else {
                return error(StatusCode::BAD_REQUEST, "give \"allocation\"");
            };
            if !admin.engine.use_up_allocation(&name) {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!("no daily delivery allocation named {name:?}"),
                );
            }
            json!({"usedUp": name})
        }
        "cdc-gap" => {
            let (Some(entity), Some(change_type)) = (text("entity"), text("changeType")) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give \"entity\" and \"changeType\"",
                );
            };
            let record_ids: Vec<String> = body
                .get("recordIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            match admin
                .org
                .publish_cdc_gap(&entity, &change_type, record_ids)
                .await
            {
                Ok(replay_ids) => json!({"replayIds": replay_ids}),
                Err(e) => return error(StatusCode::BAD_REQUEST, &e),
            }
        }
        "invalidate-tokens" => {
            let Some(username) = text("username") else {
                return error(StatusCode::BAD_REQUEST, "give \"username\"");
            };
            match admin.org.revoke_user_tokens(&username).await {
                Ok(revoked) => json!({"revoked": revoked}),
                Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
        "drop-connections" => json!({"held": admin.engine.drop_connections()}),
        "delay-deliveries" => {
            let Some(ms) = number("ms") else {
                return error(StatusCode::BAD_REQUEST, "give \"ms\"");
            };
            admin.engine.set_delivery_delay(Duration::from_millis(ms));
            json!({"delayMs": ms})
        }
        "expire-log" => {
            let Some(replay_id) = number("replayId") else {
                return error(StatusCode::BAD_REQUEST, "give \"replayId\"");
            };
            match admin.engine.log().expire_through(replay_id) {
                Ok(removed) => json!({"removed": removed}),
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        other => return error(StatusCode::NOT_FOUND, &format!("unknown fault {other:?}")),
    };
    tracing::warn!(fault = %action, %reply, "fault injected");
    Json(reply).into_response()
}
