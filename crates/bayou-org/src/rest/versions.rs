//! `GET /services/data/`: the API versions served, oldest first (aio_sf_streaming takes the
//! last one). Like Salesforce, this call needs no authentication.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::Org;

/// Versions from 37.0 (the first with durable streaming) to the current one.
pub async fn list() -> Json<Value> {
    let current: u32 = bayou_protocol::errors::CURRENT_API_VERSION
        .split('.')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(66);
    let versions: Vec<Value> = (37..=current)
        .map(|v| json!({"version": format!("{v}.0"), "url": format!("/services/data/v{v}.0"), "label": label(v)}))
        .collect();
    Json(Value::Array(versions))
}

/// `GET /services/data/vXX.X/`: the resources of one version (authenticated).
pub async fn resources(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers).await {
        return denied;
    }
    let Some(number) = version
        .strip_prefix('v')
        .filter(|v| v.parse::<f64>().is_ok())
    else {
        return super::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let base = format!("/services/data/v{number}");
    Json(json!({
        "sobjects": format!("{base}/sobjects"),
        "query": format!("{base}/query"),
        "limits": format!("{base}/limits"),
        "composite": format!("{base}/composite"),
    }))
    .into_response()
}

/// Salesforce's release name for API version `v` (three releases a year: Spring, Summer,
/// Winter; 37.0 was Summer '16).
fn label(v: u32) -> String {
    let index = v.saturating_sub(37);
    let (season, year) = match index % 3 {
        0 => ("Summer", 16 + index / 3),
        1 => ("Winter", 17 + index / 3),
        _ => ("Spring", 17 + index / 3),
    };
    format!("{season} '{year:02}")
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn release_names() {
        assert_eq!(label(37), "Summer '16");
        assert_eq!(label(38), "Winter '17");
        assert_eq!(label(39), "Spring '17");
        assert_eq!(label(58), "Summer '23");
        assert_eq!(label(66), "Spring '26");
    }
}
