//! `GET /services/data/vXX.X/limits`: the org's streaming allocations as Salesforce reports
//! them, each `{"Max":n,"Remaining":n}`. An allocation Bayou does not limit (the default) is
//! reported with `Max` 4294967295, so that clients computing what is left keep working.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bayou_server::Engine;
use serde_json::{json, Map, Value};

use crate::Org;

/// `Max` of an allocation that is not limited.
pub const UNLIMITED: u64 = u32::MAX as u64;

fn entry(max: Option<u64>, used: u64) -> Value {
    let max = max.unwrap_or(UNLIMITED);
    json!({"Max": max, "Remaining": max.saturating_sub(used)})
}

pub async fn limits(
    State(org): State<Arc<Org>>,
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers).await {
        return denied;
    }
    let usage = engine.allocation_usage();
    let daily = |name: &str| {
        usage
            .iter()
            .find(|u| u.name == name)
            .map_or(entry(None, 0), |u| entry(Some(u.per_day), u.used))
    };
    let clients = entry(
        engine.config().max_sessions.map(|m| m as u64),
        engine.session_count() as u64,
    );
    let mut out = Map::new();
    // Durable and classic names alike: Bayou streams durably on every API version.
    for name in ["DailyStreamingApiEvents", "DailyDurableStreamingApiEvents"] {
        out.insert(name.into(), daily("PushTopic"));
    }
    for name in [
        "DailyGenericStreamingApiEvents",
        "DailyDurableGenericStreamingApiEvents",
    ] {
        out.insert(name.into(), daily("GenericStreaming"));
    }
    out.insert(
        "DailyDeliveredPlatformEvents".into(),
        daily("PlatformAndChangeEvents"),
    );
    for name in [
        "StreamingApiConcurrentClients",
        "DurableStreamingApiConcurrentClients",
    ] {
        out.insert(name.into(), clients.clone());
    }
    Json(Value::Object(out)).into_response()
}
