//! What every HTTP answer gets whatever route served it: request body limits, a request
//! timeout, and security headers, as `tower-http` layers rather than code in each handler.
//!
//! **Body limits.** The org's routes (OAuth, SOAP login, sObject REST, composite, publish,
//! push) and the admin API refuse a body above [`API_BODY_LIMIT`] with HTTP 413 before the
//! handler runs (`Content-Length` checked up front, chunked bodies cut as they arrive). 2 MiB:
//! the largest thing Salesforce accepts on these routes is a 1 MB platform event, and 2 MB is
//! also what axum's extractors already allowed, so nothing that worked before is refused. Some
//! routes are stricter on their own and answer in their protocol's shape: SOAP login at 64 KiB
//! with a SOAP fault (`bayou_org::auth::soap`). Every 413 says `Connection: close`: the body was
//! not read, so the connection cannot carry another request. The Bayeux endpoint gets **no** layer: its
//! limit (`max_request_bytes`, 32,768 bytes like Salesforce) must be answered with Bayeux's
//! `413::Maximum Request Size Exceeded` in a JSON array, which the long-polling transport does
//! itself; a layer would answer first, in the wrong shape.
//!
//! **Timeout.** The same org and admin routes are cut after [`API_TIMEOUT`] with HTTP 503 (try
//! again): a stuck handler or a client trickling its body cannot hold a connection forever.
//! The Bayeux endpoint is again left out, on purpose: a `/meta/connect` is *meant* to be held
//! (110 s by default, and `timeout` is configurable without bound), and a WebSocket lives for
//! hours; a server-wide timeout would cut both. The engine bounds those itself (the hold
//! duration, session expiry after `maxInterval`).
//!
//! **Headers.** `X-Content-Type-Options: nosniff` on every response. The dashboard's pages and
//! files also get `X-Frame-Options: DENY` and a Content-Security-Policy ([`DASHBOARD_CSP`])
//! that allows only what the dashboard does: scripts, styles and fetch/WebSocket connections
//! to its own origin (it has no inline scripts or styles; element styles are set through the
//! CSSOM, which CSP does not restrict), the CometD client's `blob:` timer worker, no framing,
//! no plugins. The browser tests fail on any console error, CSP violations included.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body on the org's routes and the admin API.
pub const API_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Longest an org or admin request may take, body included. Far above any handler's work
/// (a durable publish waits for one group commit), far below "forever".
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

/// The dashboard's Content-Security-Policy. `connect-src 'self'` covers `ws://` and `wss://`
/// to the same host and port in CSP Level 3 browsers.
/// `worker-src blob:` because the CometD client runs its timers in a worker made from a
/// `blob:` URL (browsers throttle timers in background tabs, not in workers).
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The org's routes and the admin API: body limit and timeout.
pub fn api(router: Router) -> Router {
    limited(router, API_BODY_LIMIT, API_TIMEOUT)
}

fn limited(router: Router, body_limit: usize, timeout: Duration) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::map_response(close_after_refused_body))
}

/// A body refused for its size was not read: the connection cannot carry another request, so
/// the answer says `Connection: close` and no client puts it back in its pool.
async fn close_after_refused_body(
    mut response: axum::response::Response,
) -> axum::response::Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The dashboard's HTML, scripts and styles: no framing, a strict CSP.
pub fn dashboard(router: Router) -> Router {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DASHBOARD_CSP),
        ))
}

/// Every route, the Bayeux endpoint included.
pub fn everywhere(router: Router) -> Router {
    router.layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    /// A stand-in for the real composition in `serve.rs`.
    fn app(timeout: Duration) -> Router {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        };
        let api_routes = Router::new()
            .route("/services/echo", post(|body: String| async move { body }))
            .route("/services/slow", get(slow));
        let bayeux = Router::new()
            .route(
                "/cometd/66.0",
                post(|body: axum::body::Bytes| async move { body.len().to_string() }),
            )
            .route("/cometd/slow", get(slow));
        let pages = Router::new().route("/", get(|| async { "<html></html>" }));
        everywhere(
            bayeux
                .merge(limited(api_routes, 1_000, timeout))
                .merge(dashboard(pages)),
        )
    }

    async fn send(app: Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap) {
        let response = match app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        let _ = to_bytes(response.into_body(), usize::MAX).await;
        (status, headers)
    }

    fn post_body(uri: &str, len: usize) -> Request<Body> {
        Request::post(uri)
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(vec![b'x'; len]))
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn api_routes_refuse_large_bodies_and_the_bayeux_endpoint_is_left_alone() {
        let app = app(API_TIMEOUT);
        let (status, _) = send(app.clone(), post_body("/services/echo", 1_000)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, headers) = send(app.clone(), post_body("/services/echo", 1_001)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            headers[header::CONNECTION],
            "close",
            "the unread body ends the connection"
        );
        // Chunked: no Content-Length, cut while reading.
        let chunks =
            futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 400])));
        let request = Request::post("/services/echo")
            .body(Body::from_stream(chunks))
            .unwrap_or_default();
        let (status, _) = send(app.clone(), request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // The Bayeux route keeps its own limit (the transport answers 413 in Bayeux's shape).
        let (status, _) = send(app, post_body("/cometd/66.0", 10_000)).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn only_api_routes_time_out() {
        let app = app(Duration::from_millis(50));
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap_or_default();
        let (status, _) = send(app.clone(), get("/services/slow")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        // A held /meta/connect outlives the API timeout.
        let (status, _) = send(app, get("/cometd/slow")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn security_headers() {
        let app = app(API_TIMEOUT);
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap_or_default();
        let (_, headers) = send(app.clone(), get("/")).await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], DASHBOARD_CSP);
        let (_, headers) = send(app, get("/cometd/slow")).await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
    }
}
