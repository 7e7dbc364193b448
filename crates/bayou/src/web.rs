//! The dashboard: the workbench at `/` and the operator view at `/operator`, plain HTML, CSS
//! and JavaScript modules from `web/`, embedded in the binary so that `bayou serve` needs no
//! frontend build and no files beside it.
//!
//! Assets are served under `/dashboard/…` with their content type, `Cache-Control: no-cache`
//! and an `ETag` (a hash of the embedded bytes), so a browser revalidates cheaply (304) and
//! never runs a stale page after an upgrade. Unknown paths are 404. Security headers
//! (`nosniff`, `X-Frame-Options`, the Content-Security-Policy) are added by the layers in
//! `http_policy.rs`.
//!
//! `GET /dashboard/config.json` tells the page what it cannot know: the org's client id (the
//! password flow needs no secret, and a client id is public in OAuth) and whether the admin API
//! is on. The page then logs in with `POST /services/oauth2/token` like any Salesforce client.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bayou_org::Org;
use serde_json::json;

/// One embedded file.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)),
        }),*]
    };
}

/// Every file of `web/`.
static ASSETS: &[Asset] = assets![
    "index.html",
    "operator.html",
    "css/dashboard.css",
    "js/api.js",
    "js/dom.js",
    "js/feed.js",
    "js/login.js",
    "js/workbench.js",
    "js/operator.js",
    "js/chart.js",
    "vendor/cometd-9.0.0/Client.js",
    "vendor/cometd-9.0.0/TransportRegistry.js",
    "vendor/cometd-9.0.0/Transport.js",
    "vendor/cometd-9.0.0/RequestTransport.js",
    "vendor/cometd-9.0.0/LongPollingTransport.js",
    "vendor/cometd-9.0.0/CallbackPollingTransport.js",
    "vendor/cometd-9.0.0/WebSocketTransport.js",
    "vendor/cometd-9.0.0/LICENSE",
    "vendor/cometd-9.0.0/README.md",
];

/// ETags, computed once: FNV-1a of the bytes.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = asset.bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("\"{hash:016x}\"")
        })
        .collect()
});

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// The dashboard routes.
pub fn router(org: Arc<Org>, admin_enabled: bool) -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/operator",
            get(|headers: HeaderMap| async move { serve("operator.html", &headers) }),
        )
        .route(
            "/dashboard/config.json",
            get(move || {
                let client_id = org.default_client_id();
                async move {
                    let config = json!({
                        "clientId": client_id,
                        "apiVersion": "66.0",
                        "adminApi": admin_enabled,
                    });
                    ([(header::CACHE_CONTROL, "no-store")], Json(config))
                }
            }),
        )
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&path, &headers)
            }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response();
    };
    let etag = &ETAGS[index];
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    )];
    (common, content_type, ASSETS[index].bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_content_type_and_a_distinct_etag() {
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
            if !asset.path.ends_with("LICENSE") {
                assert_ne!(
                    content_type(asset.path),
                    "text/plain; charset=utf-8",
                    "{}",
                    asset.path
                );
            }
        }
        let mut etags = ETAGS.clone();
        etags.sort();
        etags.dedup();
        assert_eq!(etags.len(), ASSETS.len());
    }

    #[test]
    fn modules_import_only_embedded_files() {
        // A module importing a file that is not embedded would fail only in the browser.
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let target = resolve(dir, spec);
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {spec} ({target}), which is not embedded",
                    asset.path
                );
            }
        }
    }

    fn resolve(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = if let Some(abs) = spec.strip_prefix("/dashboard/") {
            return abs.to_owned();
        } else {
            dir.split('/').filter(|p| !p.is_empty()).collect()
        };
        for part in spec.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        parts.join("/")
    }
}
