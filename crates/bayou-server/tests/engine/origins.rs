//! WebSocket upgrades from another site's page are refused: a browser sends `Origin`, and only
//! the server's own origin (or configured ones) may open a socket with the browser's ambient
//! credentials.

use bayou_server::EngineConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::support::{long_hold, TestServer};

/// The HTTP status of an upgrade sent with `origin`.
async fn upgrade_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(origin) = origin {
        let value = HeaderValue::from_str(origin).unwrap();
        request.headers_mut().insert("origin", value);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

#[tokio::test]
async fn only_the_servers_own_origin_may_open_a_socket() {
    let server = TestServer::start(long_hold()).await;
    let own = format!("http://{}", server.addr);
    assert_eq!(
        upgrade_status(&server, None).await,
        101,
        "no Origin: not a browser"
    );
    assert_eq!(upgrade_status(&server, Some(&own)).await, 101);
    assert_eq!(
        upgrade_status(&server, Some("http://evil.example")).await,
        403
    );
    assert_eq!(upgrade_status(&server, Some("null")).await, 403);
}

#[tokio::test]
async fn configured_origins_may_too() {
    let server = TestServer::start(EngineConfig {
        allowed_origins: vec!["https://app.example.com".into()],
        ..long_hold()
    })
    .await;
    assert_eq!(
        upgrade_status(&server, Some("https://app.example.com")).await,
        101
    );
    assert_eq!(
        upgrade_status(&server, Some("https://other.example.com")).await,
        403
    );
}
