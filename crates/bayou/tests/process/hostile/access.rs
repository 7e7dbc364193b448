//! Access (issue 17, items 10–18): requests with someone else's session, revoked or missing
//! credentials, data no client can read, channels and endpoints that would show too much,
//! and browsers, hosts and files that could be turned against the org.

use std::os::unix::fs::PermissionsExt;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{websocket, Context, METRICS_TOKEN};

/// Attack 10: Another user's token, a garbage token or none, with the owner's client id.
pub async fn borrowed_sessions(ctx: &Context<'_>) {
    let client = ctx.target.handshake(ctx.owner).await;
    let connect = json!([{"channel":"/meta/connect","clientId":client,"connectionType":"long-polling","advice":{"timeout":0}}]);
    let publish = json!([{"channel":"/chat/owner","clientId":client,"data":{"x":1}}]);
    for message in [&connect, &publish] {
        let (_, replies) = ctx.target.bayeux(ctx.attacker, message.clone()).await;
        assert_eq!(
            replies[0]["error"],
            "400::Authenticated user id does not match the session's user id"
        );
        let (_, replies) = ctx.target.bayeux("Bearer garbage", message.clone()).await;
        assert_eq!(replies[0]["error"], "401::Authentication invalid");
        let (_, replies) = post_without_auth(ctx, message).await;
        assert_eq!(replies[0]["successful"], false, "{replies}");
    }
    // The owner's session is untouched.
    let (_, replies) = ctx.target.bayeux(ctx.owner, connect).await;
    assert_eq!(replies[0]["successful"], true, "{replies}");
}

async fn post_without_auth(
    ctx: &Context<'_>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = ctx
        .target
        .http
        .post(ctx.target.url("/cometd/66.0"))
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Attack 11: A revoked token, on sessions that never send `/meta/connect`: the next request of any
/// kind ends the session with `401::Authentication invalid`, and no new session opens.
pub async fn revoked_token(ctx: &Context<'_>) {
    let auth = ctx.target.auth(super::USER, super::PASSWORD).await;
    let publisher = ctx.target.handshake(&auth).await;
    let subscriber = ctx.target.handshake(&auth).await;
    let token = auth.trim_start_matches("Bearer ");
    let revoked = ctx
        .target
        .http
        .post(ctx.target.url("/services/oauth2/revoke"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    let publish = json!([{"channel":"/chat/owner","clientId":publisher,"data":{"x":1}}]);
    let subscribe =
        json!([{"channel":"/meta/subscribe","clientId":subscriber,"subscription":"/chat/owner"}]);
    for message in [publish, subscribe] {
        let (_, replies) = ctx.target.bayeux(&auth, message).await;
        assert_eq!(replies[0]["error"], "401::Authentication invalid");
    }
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let (_, replies) = ctx.target.bayeux(&auth, handshake).await;
    assert_eq!(replies[0]["successful"], false, "{replies}");
}

/// Attack 12: Published data no client could decode.
pub async fn unreadable_data(ctx: &Context<'_>) {
    let client = ctx.target.handshake(ctx.owner).await;
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for data in [r#"{"s":"\ud800"}"#.to_owned(), deep] {
        let body = format!(r#"[{{"channel":"/chat/owner","clientId":"{client}","data":{data}}}]"#);
        let response = ctx
            .target
            .http
            .post(ctx.target.url("/cometd/66.0"))
            .header("authorization", ctx.owner)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let replies: serde_json::Value = response.json().await.unwrap();
        assert_eq!(replies[0]["successful"], false, "{replies}");
        let error = replies[0]["error"].as_str().unwrap();
        assert!(error.starts_with("400::Malformed message"), "{error}");
    }
}

/// Attack 13: Wildcards over the whole org, and Salesforce namespaces in another case.
pub async fn wide_channels(ctx: &Context<'_>) {
    let client = ctx.target.handshake(ctx.attacker).await;
    for wildcard in ["/**", "/*", "/service/**"] {
        let subscribe =
            json!([{"channel":"/meta/subscribe","clientId":client,"subscription":wildcard}]);
        let (_, replies) = ctx.target.bayeux(ctx.attacker, subscribe).await;
        assert_eq!(replies[0]["error"], "403::Restricted channel", "{wildcard}");
    }
    for channel in ["/Topic/X", "/U/x", "/EVENT/X__e"] {
        let publish = json!([{"channel":channel,"clientId":client,"data":{"x":1}}]);
        let (_, replies) = ctx.target.bayeux(ctx.attacker, publish).await;
        assert_eq!(replies[0]["successful"], false, "{channel}: {replies}");
    }
}

/// Attack 14: `/metrics` behind its token.
pub async fn metrics_endpoint(ctx: &Context<'_>) {
    let url = ctx.target.url("/metrics");
    let plain = ctx.target.http.get(&url).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 401);
    let scraped = ctx
        .target
        .http
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await;
    assert_eq!(scraped.unwrap().status().as_u16(), 200);
}

/// Attack 15: A WebSocket opened from another site's page.
pub async fn foreign_origin(ctx: &Context<'_>) {
    match websocket(ctx.target, Some(ctx.owner), Some("https://evil.example")).await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 403),
        other => panic!("a foreign origin was upgraded: {:?}", other.map(|_| ())),
    }
}

/// Attack 16: A `Host` header made to be echoed into URLs.
pub async fn forged_host(ctx: &Context<'_>) {
    let address = ctx.target.origin.trim_start_matches("http://");
    let form = format!(
        "grant_type=password&client_id={}&client_secret={}&username={}&password={}",
        super::CLIENT_ID,
        super::SECRET,
        super::USER.replace('@', "%40"),
        super::PASSWORD.replace(' ', "+")
    );
    let request = format!(
        "POST /services/oauth2/token HTTP/1.1\r\nHost: evil.example\"><script>x</script>\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    socket.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        !reply.contains("evil") && !reply.contains("<script>"),
        "{reply}"
    );
}

/// Attack 17: The data directory and what is in it: readable by the server's user only.
pub async fn file_modes(ctx: &Context<'_>) {
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(ctx.data_dir) & 0o777, 0o700);
    assert_eq!(mode(&ctx.data_dir.join("org.json")) & 0o777, 0o600);
    for entry in walk(ctx.data_dir) {
        assert_eq!(
            mode(&entry) & 0o077,
            0,
            "{} is open to others",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// Attack 18: A WebSocket message far over the size limit: closed with Salesforce's 413 text.
pub async fn oversized_websocket_message(ctx: &Context<'_>) {
    let mut socket = websocket(ctx.target, Some(ctx.owner), None)
        .await
        .expect("upgrade");
    let huge = format!(
        r#"[{{"channel":"/meta/handshake","x":"{}"}}]"#,
        "z".repeat(5 << 20)
    );
    // The server may close while the frame is still being written.
    let _ = socket.send(Message::text(huge)).await;
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Size);
                assert_eq!(frame.reason.as_str(), "413::Maximum Request Size Exceeded");
                return;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
