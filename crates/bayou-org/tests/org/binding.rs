//! A client id is not a credential: every request acts for its own user, with a live token,
//! over long-polling and over a WebSocket bound to its user at the upgrade.

use std::time::Duration;

use bayou_org::OrgConfig;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use bayou_testkit::{start, Bayou, Session, OTHER_PASSWORD, OTHER_USER};

fn connect(client_id: &str) -> Value {
    json!({"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling","advice":{"timeout":0}})
}

/// Every kind of request a client id can be used for, for the session `client_id`.
fn requests(client_id: &str) -> Vec<Value> {
    vec![
        connect(client_id),
        json!({"channel":"/meta/subscribe","clientId":client_id,"subscription":"/chat/x"}),
        json!({"channel":"/meta/unsubscribe","clientId":client_id,"subscription":"/chat/x"}),
        json!({"channel":"/chat/x","clientId":client_id,"data":{"n":1}}),
        json!({"channel":"/meta/disconnect","clientId":client_id}),
    ]
}

/// Replies to each request of [`requests`] sent alone with `authorization`.
async fn each_request(org: &Bayou, authorization: Option<&str>, client_id: &str) -> Vec<Value> {
    let mut replies = Vec::new();
    for request in requests(client_id) {
        replies.push(org.bayeux(authorization, json!([request])).await.remove(0));
    }
    replies
}

async fn still_usable(org: &Bayou, session: &Session) {
    let reply = org
        .bayeux(Some(&session.auth), json!([connect(&session.client_id)]))
        .await
        .remove(0);
    assert_eq!(
        reply["successful"], true,
        "the owner's session is untouched: {reply}"
    );
}

#[tokio::test]
async fn another_users_token_is_refused_and_the_session_goes_on() {
    let org = start(OrgConfig::default()).await;
    let owner = org.subscribe(&org.token().await, "/chat/**", None).await;
    let (other, _) = org.token_and_user_id(OTHER_USER, OTHER_PASSWORD).await;
    let other = format!("Bearer {other}");
    for reply in each_request(&org, Some(&other), &owner.client_id).await {
        assert_eq!(reply["successful"], false, "{reply}");
        assert_eq!(
            reply["error"], "400::Authenticated user id does not match the session's user id",
            "{reply}"
        );
        assert_eq!(reply["advice"]["reconnect"], "handshake", "{reply}");
    }
    still_usable(&org, &owner).await;
}

#[tokio::test]
async fn requests_without_a_live_token_are_refused() {
    let org = start(OrgConfig::default()).await;
    let owner = org.subscribe(&org.token().await, "/chat/**", None).await;
    for (authorization, error) in [
        (None, "401::Request requires authentication"),
        (Some("Bearer not-a-token"), "401::Authentication invalid"),
    ] {
        for reply in each_request(&org, authorization, &owner.client_id).await {
            assert_eq!(reply["successful"], false, "{reply}");
            assert_eq!(reply["error"], error, "{reply}");
            assert_eq!(reply["advice"]["reconnect"], "none", "{reply}");
        }
    }
    still_usable(&org, &owner).await;
}

#[tokio::test]
async fn a_revoked_token_cuts_publish_and_subscribe_without_a_connect() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let owner = org.subscribe(&token, "/chat/**", None).await;
    assert_eq!(org.revoke(&token).await, 200);
    let publish = json!([{"channel":"/chat/x","clientId":owner.client_id,"data":{"n":1}}]);
    let reply = org.bayeux(Some(&owner.auth), publish).await.remove(0);
    assert_eq!(reply["error"], "401::Authentication invalid", "{reply}");
    // The session ended with its token: a new token of the same user does not revive it.
    let fresh = format!("Bearer {}", org.token().await);
    let reply = org
        .bayeux(Some(&fresh), json!([connect(&owner.client_id)]))
        .await
        .remove(0);
    assert_eq!(reply["error"], "403::Unknown client", "{reply}");
}

#[tokio::test]
async fn a_new_token_of_the_same_user_keeps_the_session() {
    let org = start(OrgConfig::default()).await;
    let owner = org.subscribe(&org.token().await, "/chat/**", None).await;
    let refreshed = format!("Bearer {}", org.token().await);
    let publish = json!([{"channel":"/chat/x","clientId":owner.client_id,"data":{"n":1}}]);
    let reply = org.bayeux(Some(&refreshed), publish).await.remove(0);
    assert_eq!(reply["successful"], true, "{reply}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket with `header` as `Authorization` and `protocols` as its subprotocols; the
/// HTTP status of the upgrade, and the socket when it was upgraded.
async fn open(
    org: &Bayou,
    header: Option<&str>,
    protocols: Option<&str>,
) -> (u16, Option<(Socket, Option<String>)>) {
    let url = format!("{}/cometd/66.0", org.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = header {
        let value = HeaderValue::from_str(value).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    if let Some(value) = protocols {
        let value = HeaderValue::from_str(value).unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", value);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            let protocol = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), Some((socket, protocol)))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

async fn exchange(socket: &mut Socket, messages: Value) -> Vec<Value> {
    socket
        .send(WsMessage::text(messages.to_string()))
        .await
        .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("no reply")
        .expect("socket closed")
        .unwrap();
    serde_json::from_str(frame.to_text().unwrap()).unwrap()
}

fn ws_handshake() -> Value {
    json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"]}])
}

#[tokio::test]
async fn an_upgrade_without_usable_credentials_gets_401_so_clients_fall_back() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    assert_eq!(open(&org, None, None).await.0, 401);
    assert_eq!(open(&org, Some("Bearer not-a-token"), None).await.0, 401);
    assert_eq!(
        open(&org, None, Some("bayou-token.not-a-token, bayou-auth"))
            .await
            .0,
        401
    );
    assert_eq!(
        open(&org, None, Some(&format!("bayou-token.{token}")))
            .await
            .0,
        401,
        "the token subprotocol counts only beside bayou-auth"
    );

    let (status, socket) = open(&org, Some(&format!("Bearer {token}")), None).await;
    assert_eq!(status, 101);
    let (mut socket, _) = socket.unwrap();
    assert_eq!(
        exchange(&mut socket, ws_handshake()).await[0]["successful"],
        true
    );
}

#[tokio::test]
async fn a_browser_authenticates_its_socket_with_subprotocols() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let offered = format!("bayou-auth, bayou-token.{token}");
    let (status, socket) = open(&org, None, Some(&offered)).await;
    assert_eq!(status, 101);
    let (mut socket, protocol) = socket.unwrap();
    assert_eq!(protocol.as_deref(), Some("bayou-auth"));
    let reply = exchange(&mut socket, ws_handshake()).await.remove(0);
    assert_eq!(reply["successful"], true, "{reply}");
    let client_id = reply["clientId"].as_str().unwrap();
    let connect =
        json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"websocket"}]);
    assert_eq!(exchange(&mut socket, connect).await[0]["successful"], true);
}

#[tokio::test]
async fn a_socket_acts_only_for_its_own_user() {
    let org = start(OrgConfig::default()).await;
    let owner = org.subscribe(&org.token().await, "/chat/**", None).await;
    let (other, _) = org.token_and_user_id(OTHER_USER, OTHER_PASSWORD).await;
    let (status, socket) = open(&org, Some(&format!("Bearer {other}")), None).await;
    assert_eq!(status, 101);
    let (mut socket, _) = socket.unwrap();
    for request in requests(&owner.client_id) {
        let reply = exchange(&mut socket, json!([request])).await.remove(0);
        assert_eq!(
            reply["error"], "400::Authenticated user id does not match the session's user id",
            "{reply}"
        );
    }
    still_usable(&org, &owner).await;
}

#[tokio::test]
async fn anonymous_mode_opens_sockets_without_credentials() {
    let org = start(OrgConfig {
        allow_anonymous: true,
        ..OrgConfig::default()
    })
    .await;
    let (status, socket) = open(&org, None, None).await;
    assert_eq!(status, 101);
    let (mut socket, _) = socket.unwrap();
    assert_eq!(
        exchange(&mut socket, ws_handshake()).await[0]["successful"],
        true
    );
}
