//! The Bayeux engine over real HTTP and WebSocket, server in-process on 127.0.0.1:0.
//!
//! Hold times are set long (60 s) wherever a test checks that a connect is *released* early:
//! the test's own 10 s limit then fails it if the release does not happen, with no timing
//! assertion of our own.

use std::sync::Arc;

use crate::support::{
    events, eventually, long_hold, publish, quick_config, within, ws_handshake, TestServer,
    WsClient, LIMIT,
};
use bayou_protocol::ChannelName;
use bayou_server::engine::ServiceHandler;
use bayou_server::engine::Session;
use bayou_server::{EngineConfig, TransportKind};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use serde_json::value::RawValue;

#[tokio::test]
async fn handshake_reply_has_the_salesforce_shape_and_sets_a_cookie() {
    let server = TestServer::start(quick_config()).await;
    let client = server.client();
    let response = client
        .post_raw(
            json!([{"channel":"/meta/handshake","version":"1.0","id":"42",
                    "supportedConnectionTypes":["long-polling"]}])
            .to_string(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers["content-type"],
        "application/json;charset=UTF-8"
    );
    let cookie = response.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("BAYEUX_BROWSER="), "{cookie}");
    assert!(cookie.contains("Path=/cometd") && cookie.contains("HttpOnly"));
    assert!(!cookie.contains("Secure"));

    let reply = &response.body[0];
    assert_eq!(reply["channel"], "/meta/handshake");
    assert_eq!(reply["id"], "42");
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["version"], "1.0");
    assert_eq!(reply["minimumVersion"], "1.0");
    assert_eq!(
        reply["ext"],
        json!({"replay": true, "payload.format": true})
    );
    assert_eq!(
        reply["supportedConnectionTypes"],
        json!(["websocket", "long-polling"])
    );
    assert!(reply.get("advice").is_none());
    let client_id = reply["clientId"].as_str().unwrap();
    assert!(client_id.len() >= 20);

    // A client that sends the cookie back is not given a new one.
    let again = client
        .http
        .post(server.cometd())
        .header("cookie", cookie.split(';').next().unwrap())
        .body(json!([{"channel":"/meta/handshake","version":"1.0"}]).to_string())
        .send()
        .await
        .unwrap();
    assert!(again.headers().get("set-cookie").is_none());
    server.stop().await;
}

#[tokio::test]
async fn first_connect_answers_at_once_with_advice() {
    let server = TestServer::start(long_hold()).await;
    let mut client = server.client();
    client.handshake().await;
    let replies = within(client.connect("2")).await;
    assert_eq!(
        replies,
        vec![json!({
            "channel": "/meta/connect", "id": "2", "clientId": client.id(), "successful": true,
            "advice": {"reconnect": "retry", "interval": 0, "timeout": 60000}
        })]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_held_connect_is_released_by_a_publish_with_events_first() {
    let server = TestServer::start(long_hold()).await;
    let mut subscriber = server.client();
    subscriber.open().await;
    assert_eq!(
        subscriber.subscribe(json!("/chat/room")).await["successful"],
        true
    );
    let mut publisher = server.client();
    publisher.open().await;

    let id = subscriber.id().to_owned();
    let held = tokio::spawn(async move { subscriber.connect("9").await });
    let session = server.engine.session(&id).unwrap();
    eventually(|| session.is_holding()).await;

    let reply = publisher
        .publish("/chat/room", json!({"text": "hello"}))
        .await;
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(reply["ext"], json!({"replayId": 1}));
    let replies = within(held).await.unwrap();
    assert_eq!(replies.len(), 2, "{replies:?}");
    let created = replies[0]["ext"]["createdDate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        replies[0],
        json!({"channel": "/chat/room", "data": {"text": "hello"},
               "ext": {"replayId": 1, "createdDate": created}})
    );
    assert!(created.len() == 24 && created.ends_with('Z') && created.as_bytes()[19] == b'.');
    assert_eq!(replies[1]["channel"], "/meta/connect");
    assert_eq!(replies[1]["id"], "9");
    assert_eq!(replies[1]["successful"], true);
    assert!(replies[1].get("advice").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_held_connect_with_nothing_to_deliver_ends_at_the_timeout() {
    let server = TestServer::start(quick_config()).await;
    let mut client = server.client();
    client.open().await;
    let replies = within(client.connect("3")).await;
    assert_eq!(
        replies,
        vec![json!({"channel":"/meta/connect","id":"3","clientId":client.id(),"successful":true})]
    );
    server.stop().await;
}

#[tokio::test]
async fn batched_connects_and_zero_timeout_connects_are_not_held() {
    let server = TestServer::start(long_hold()).await;
    let mut client = server.client();
    client.open().await;
    let replies = within(client.post(json!([
        {"channel":"/meta/connect","clientId":client.id(),"id":"4","connectionType":"long-polling"},
        {"channel":"/meta/subscribe","clientId":client.id(),"id":"5","subscription":"/a"}
    ])))
    .await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["id"], "4");
    assert_eq!(replies[1]["subscription"], "/a");

    let replies = within(client.post(json!([
        {"channel":"/meta/connect","clientId":client.id(),"id":"6",
         "connectionType":"long-polling","advice":{"timeout":0}}
    ])))
    .await;
    assert_eq!(replies[0]["successful"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_new_connect_releases_the_one_it_replaces_without_its_messages() {
    let server = TestServer::start(long_hold()).await;
    let mut client = server.client();
    client.open().await;
    client.subscribe(json!("/news")).await;
    let id = client.id().to_owned();
    let session = server.engine.session(&id).unwrap();

    let first_client = server.client();
    let first_id = id.clone();
    let first = tokio::spawn(async move {
        first_client
            .post(
                json!([{"channel":"/meta/connect","clientId":first_id,"id":"old",
                          "connectionType":"long-polling"}]),
            )
            .await
    });
    eventually(|| session.is_holding()).await;
    let second = tokio::spawn(async move { client.connect("new").await });

    let replaced = within(first).await.unwrap();
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(replaced[0]["id"], "old");
    assert_eq!(replaced[0]["successful"], true);

    eventually(|| session.is_holding()).await;
    publish(&server, "/news", "n1").await;
    let replies = within(second).await.unwrap();
    assert_eq!(replies[0]["data"]["text"], "n1");
    assert_eq!(replies[1]["id"], "new");
    server.stop().await;
}

#[tokio::test]
async fn disconnect_answers_the_held_connect_and_ends_the_session() {
    let server = TestServer::start(long_hold()).await;
    let mut client = server.client();
    client.open().await;
    let id = client.id().to_owned();
    let session = server.engine.session(&id).unwrap();
    let holder = server.client();
    let hold_id = id.clone();
    let held = tokio::spawn(async move {
        holder
            .post(
                json!([{"channel":"/meta/connect","clientId":hold_id,"id":"h",
                          "connectionType":"long-polling"}]),
            )
            .await
    });
    eventually(|| session.is_holding()).await;

    let replies = client
        .post(json!([{"channel":"/meta/disconnect","clientId":id,"id":"d"}]))
        .await;
    assert_eq!(
        replies,
        vec![json!({"channel":"/meta/disconnect","id":"d","clientId":id,"successful":true})]
    );
    let released = within(held).await.unwrap();
    assert_eq!(released[0]["successful"], true);

    let after = client.connect("x").await;
    assert_eq!(after[0]["error"], "403::Unknown client");
    server.stop().await;
}

#[tokio::test]
async fn a_session_that_stops_connecting_expires_and_gets_unknown_client() {
    let server = TestServer::start(quick_config()).await;
    let mut client = server.client();
    client.open().await;
    let engine = Arc::clone(&server.engine);
    eventually(|| engine.session_count() == 0).await;

    let replies = client.connect("7").await;
    assert_eq!(
        replies,
        vec![json!({
            "channel": "/meta/connect", "id": "7", "successful": false,
            "error": "403::Unknown client",
            "advice": {"reconnect": "handshake", "interval": 0}
        })]
    );
    let subscribe = client.subscribe(json!("/x")).await;
    assert_eq!(subscribe["error"], "403::Unknown client");
    assert_eq!(subscribe["subscription"], "/x");
    assert_eq!(subscribe["advice"]["reconnect"], "handshake");
    server.stop().await;
}

#[tokio::test]
async fn messages_without_a_client_id_are_refused() {
    let server = TestServer::start(quick_config()).await;
    let client = server.client();
    let replies = client
        .post(json!([{"channel":"/meta/subscribe","id":"1","subscription":"/a"}]))
        .await;
    assert_eq!(
        replies[0]["error"],
        "403::Client has not completed handshake"
    );
    assert_eq!(replies[0]["advice"]["reconnect"], "handshake");
    assert_eq!(replies[0]["subscription"], "/a");
    server.stop().await;
}

#[tokio::test]
async fn subscription_arrays_are_echoed_and_applied_all_or_nothing() {
    let server = TestServer::start(quick_config()).await;
    let mut client = server.client();
    client.open().await;
    let reply = client.subscribe(json!(["/a", "/b"])).await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["subscription"], json!(["/a", "/b"]));
    publish(&server, "/b", "b1").await;

    let reply = client.subscribe(json!(["/c", "d"])).await;
    assert_eq!(reply["successful"], false);
    assert_eq!(
        reply["error"],
        "400::Channel subscriptions must start with a leading '/'"
    );
    assert_eq!(reply["subscription"], json!(["/c", "d"]));
    publish(&server, "/c", "c1").await;

    let replies = client
        .post(
            json!([{"channel":"/meta/unsubscribe","clientId":client.id(),"id":"u",
                      "subscription":["/a","/b"]}]),
        )
        .await;
    assert_eq!(replies[0]["successful"], true);
    assert_eq!(replies[0]["subscription"], json!(["/a", "/b"]));
    publish(&server, "/a", "a1").await;

    client.subscribe(json!("/end")).await;
    publish(&server, "/end", "end").await;
    assert_eq!(client.texts_until("end").await, vec!["b1", "end"]);
    server.stop().await;
}

#[tokio::test]
async fn wildcard_subscriptions_route_as_bayeux_says_and_deliver_once() {
    let server = TestServer::start(quick_config()).await;
    let mut one_level = server.client();
    one_level.open().await;
    one_level.subscribe(json!("/chat/*")).await;
    let mut deep = server.client();
    deep.open().await;
    deep.subscribe(json!(["/chat/**", "/chat/a"])).await;

    publish(&server, "/chat/a", "1").await;
    publish(&server, "/chat/a/b", "2").await;
    publish(&server, "/chat", "3").await;
    publish(&server, "/chat/end", "end").await;

    assert_eq!(one_level.texts_until("end").await, vec!["1", "end"]);
    assert_eq!(deep.texts_until("end").await, vec!["1", "2", "end"]);
    server.stop().await;
}

#[tokio::test]
async fn ids_are_echoed_verbatim_whatever_their_type() {
    let server = TestServer::start(quick_config()).await;
    let mut client = server.client();
    client.handshake().await;
    let replies = client
        .post(json!([
            {"channel":"/meta/connect","clientId":client.id(),"id":7,"connectionType":"long-polling"},
            {"channel":"/meta/subscribe","clientId":client.id(),"id":"1j3","subscription":"/a"}
        ]))
        .await;
    assert_eq!(replies[0]["id"], 7);
    assert_eq!(replies[1]["id"], "1j3");
    // A single object body (aio_sf_streaming) gets an array reply.
    let replies = client
        .post(json!({"channel":"/meta/subscribe","clientId":client.id(),"id":"9","subscription":"/b"}))
        .await;
    assert_eq!(replies[0]["id"], "9");
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_session_stays_usable() {
    let server = TestServer::start(EngineConfig {
        max_batch_messages: 3,
        max_request_bytes: 1_000,
        ..quick_config()
    })
    .await;
    let mut client = server.client();
    client.open().await;
    let cid = client.id().to_owned();

    // Not JSON at all: HTTP 400, still a JSON array that says why.
    let response = client.post_raw("[{\"channel\":").await;
    assert_eq!(response.status, 400);
    let error = response.body[0]["error"].as_str().unwrap();
    assert!(error.starts_with("400::Malformed JSON"), "{error}");

    // Too large: 413 with Salesforce's text.
    let response = client
        .post_raw(format!(
            "[{{\"channel\":\"/a\",\"data\":\"{}\"}}]",
            "x".repeat(1_000)
        ))
        .await;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.body[0]["error"],
        "413::Maximum Request Size Exceeded"
    );

    // Too many messages in one request.
    let response = client.post_raw(json!([{}, {}, {}, {}]).to_string()).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.body[0]["error"],
        "400::Too many messages in one request: 4 (the limit is 3)"
    );

    // One bad element does not sink the others.
    let replies = client
        .post(json!([5, {"channel":"/meta/subscribe","clientId":cid,"id":"ok","subscription":"/fine"}]))
        .await;
    assert!(replies[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("400::Malformed message"));
    assert_eq!(replies[1]["successful"], true);

    let cases = [
        (json!({"id":"1"}), "400::Channel name not specified"),
        (json!({"channel":"/meta/subscribe","clientId":cid,"id":"2","subscription":5}),
         "400::Malformed message: `subscription` must be a string or an array of strings"),
        (json!({"channel":"/meta/subscribe","clientId":cid,"id":"3"}), "400::Channel name not specified"),
        (json!({"channel":"/meta/subscribe","clientId":cid,"id":"4","subscription":"/a//b"}),
         "400::Invalid channel /a//b: channel name has an empty segment"),
        (json!({"channel":"/meta/subscribe","clientId":cid,"id":"5","subscription":"/meta/*"}),
         "403::Restricted channel"),
        (json!({"channel":"/meta/bogus","clientId":cid,"id":"6"}), "400::Unknown meta channel /meta/bogus"),
        (json!({"channel":"/chat","clientId":cid,"id":"7"}), "400::Message data not specified"),
        (json!({"channel":"/chat/*","clientId":cid,"id":"8","data":{}}),
         "400::Invalid channel /chat/*: cannot publish to a wildcard"),
        (json!({"channel":"/meta/connect","clientId":cid,"id":"9","advice":"soon"}),
         "400::Malformed message: `advice` must be an object with numeric timeout/interval"),
        (json!({"channel":"/meta/connect","clientId":cid,"id":"10","connectionType":"carrier-pigeon"}),
         "400::Invalid connection type carrier-pigeon"),
        (json!({"channel":"/meta/subscribe","clientId":cid,"id":"11","subscription":"/topic/X?Name='a'"}),
         "400::Invalid channel /topic/X?Name='a': filtered subscriptions are only available on PushTopic channels"),
    ];
    for (message, expected) in cases {
        let replies = client.post(json!([message.clone()])).await;
        assert_eq!(replies[0]["successful"], false, "{message}");
        assert_eq!(replies[0]["error"], expected, "{message}");
        if let Some(id) = message.get("id") {
            assert_eq!(&replies[0]["id"], id);
        }
        let advice = &replies[0]["advice"];
        assert!(
            advice["reconnect"].is_string() && advice["interval"].is_number(),
            "{replies:?}"
        );
    }

    // Through all of that the session lived on.
    publish(&server, "/fine", "still here").await;
    assert_eq!(client.texts_until("still here").await, vec!["still here"]);
    server.stop().await;
}

#[tokio::test]
async fn the_api_version_in_the_path_is_checked() {
    let server = TestServer::start(quick_config()).await;
    let mut client = server.client();
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","id":"1"}]);
    for (path, error) in [
        ("/cometd", Some("400::API version in the URI is mandatory. URI format: '/cometd/66.0'")),
        ("/cometd/", Some("400::API version in the URI is mandatory. URI format: '/cometd/66.0'")),
        ("/cometd/36.0", Some("400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/66.0'")),
        ("/cometd/66.0/", None),
        ("/cometd/58.0/handshake", None),
        ("/cometd/replay/37.0", None),
    ] {
        client.url = server.url(path);
        let replies = client.post(handshake.clone()).await;
        match error {
            Some(error) => {
                assert_eq!(replies[0]["error"], error, "{path}");
                assert_eq!(replies[0]["advice"]["reconnect"], "none");
            }
            None => assert_eq!(replies[0]["successful"], true, "{path}"),
        }
    }
    server.stop().await;
}

struct Echo;

impl ServiceHandler for Echo {
    fn handle(&self, _: &Session, _: &ChannelName, data: &RawValue) -> Option<Box<RawValue>> {
        Some(RawValue::from_string(format!("{{\"echo\":{}}}", data.get())).unwrap())
    }
}

#[tokio::test]
async fn service_channels_reach_their_handler_and_are_never_broadcast() {
    let server = TestServer::start_with(quick_config(), |server| {
        server
            .engine()
            .register_service("/service/echo", Arc::new(Echo))
            .unwrap();
    })
    .await;
    let mut watcher = server.client();
    watcher.open().await;
    watcher.subscribe(json!(["/**", "/service/echo"])).await;
    let mut caller = server.client();
    caller.open().await;

    let reply = caller.publish("/service/echo", json!({"n": 1})).await;
    assert_eq!(reply["successful"], true);
    let replies = caller.connect("c").await;
    assert_eq!(
        replies[0],
        json!({"channel":"/service/echo","data":{"echo":{"n":1}}})
    );

    // The watcher sees nothing but its own connect reply.
    let replies = watcher
        .post(
            json!([{"channel":"/meta/connect","clientId":watcher.id(),"id":"w",
                      "connectionType":"long-polling","advice":{"timeout":0}}]),
        )
        .await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_session_whose_queue_overflows_is_closed() {
    let server = TestServer::start(EngineConfig {
        max_queue: 3,
        ..long_hold()
    })
    .await;
    let mut slow = server.client();
    slow.open().await;
    slow.subscribe(json!("/firehose")).await;
    for i in 0..4 {
        publish(&server, "/firehose", &i.to_string()).await;
    }
    let engine = Arc::clone(&server.engine);
    let id = slow.id().to_owned();
    eventually(|| engine.session(&id).is_none()).await;
    let replies = slow.connect("c").await;
    assert_eq!(replies[0]["error"], "403::Unknown client");
    assert_eq!(replies[0]["advice"]["reconnect"], "handshake");
    server.stop().await;
}

#[tokio::test]
async fn long_polling_only_refuses_websocket_like_salesforce() {
    let server = TestServer::start(EngineConfig {
        transports: vec![TransportKind::LongPolling],
        ..quick_config()
    })
    .await;
    let mut client = server.client();
    let reply = client.handshake().await;
    assert_eq!(reply["supportedConnectionTypes"], json!(["long-polling"]));
    let replies = client
        .post(json!([{"channel":"/meta/connect","clientId":client.id(),"id":"c","connectionType":"websocket"}]))
        .await;
    assert_eq!(
        replies[0]["error"],
        "400::Invalid connection type websocket"
    );

    let err = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), 405)
        }
        other => panic!("expected HTTP 405, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_answers_held_connects() {
    let server = TestServer::start(long_hold()).await;
    let mut client = server.client();
    client.open().await;
    let session = server.engine.session(client.id()).unwrap();
    let held = tokio::spawn(async move { client.connect("h").await });
    eventually(|| session.is_holding()).await;
    server.stop().await;
    let replies = within(held).await.unwrap();
    assert_eq!(replies[0]["successful"], true);
    assert_eq!(replies[0]["advice"]["reconnect"], "retry");
}

// ---------------------------------------------------------------------------------------
// WebSocket

async fn ws_connect(ws: &mut WsClient, client_id: &str, id: &str) {
    ws.send(json!([{"channel":"/meta/connect","clientId":client_id,"id":id,"connectionType":"websocket"}]))
        .await;
}

#[tokio::test]
async fn websocket_handshake_subscribe_and_push() {
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws_connect(&mut ws, &cid, "2").await;
    let first = ws.next_frame(LIMIT).await;
    assert_eq!(first[0]["advice"]["timeout"], 60000);
    ws.send(json!([{"channel":"/meta/subscribe","clientId":cid,"id":"3","subscription":"/ws/*"}]))
        .await;
    assert_eq!(ws.next_frame(LIMIT).await[0]["subscription"], "/ws/*");
    ws_connect(&mut ws, &cid, "4").await;

    let session = server.engine.session(&cid).unwrap();
    eventually(|| session.is_holding()).await;
    let mut publisher = server.client();
    publisher.open().await;
    publisher
        .publish("/ws/a", json!({"text": "over the socket"}))
        .await;
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(frame.len(), 1);
    assert_eq!(frame[0]["channel"], "/ws/a");
    assert_eq!(frame[0]["data"], json!({"text":"over the socket"}));
    assert_eq!(frame[0]["ext"]["replayId"], 1);
    // The connect is still held: messages do not end it on WebSocket.
    assert!(session.is_holding());
    server.stop().await;
}

#[tokio::test]
async fn websocket_coalesces_ready_messages_into_one_frame() {
    // Single-threaded runtime: all five publishes are queued before the socket task runs.
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws.send(json!([
        {"channel":"/meta/connect","clientId":cid,"id":"2","connectionType":"websocket"},
        {"channel":"/meta/subscribe","clientId":cid,"id":"3","subscription":"/burst"}
    ]))
    .await;
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(frame.len(), 2);
    // Five events appended in one batch reach the dispatcher together.
    let burst = events("/burst", (0..5).map(|i| i.to_string()));
    server.engine.append(burst).await.unwrap();
    let frame = ws.next_frame(LIMIT).await;
    let texts: Vec<&str> = frame
        .iter()
        .map(|m| m["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["0", "1", "2", "3", "4"]);
    server.stop().await;
}

#[tokio::test]
async fn websocket_after_an_http_handshake_like_faye() {
    let server = TestServer::start(quick_config()).await;
    let mut http = server.client();
    http.handshake().await;
    let cid = http.id().to_owned();
    let mut ws = WsClient::connect(&server.ws_url()).await;
    ws_connect(&mut ws, &cid, "2").await;
    assert_eq!(ws.next_frame(LIMIT).await[0]["successful"], true);
    ws.send(json!([{"channel":"/meta/subscribe","clientId":cid,"id":"3","subscription":"/f"}]))
        .await;
    ws.next_frame(LIMIT).await;
    ws_connect(&mut ws, &cid, "4").await;
    // With a 1 s hold and nothing published, the held connect is answered at its timeout.
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(
        frame,
        vec![json!({"channel":"/meta/connect","id":"4","clientId":cid,"successful":true})]
    );
    server.stop().await;
}

#[tokio::test]
async fn websocket_bad_frames_get_errors_and_the_socket_stays_usable() {
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    ws.socket
        .send(tokio_tungstenite::tungstenite::Message::text("{nope"))
        .await
        .unwrap();
    let frame = ws.next_frame(LIMIT).await;
    assert!(frame[0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{frame:?}"))
        .starts_with("400::Malformed JSON"));
    ws.socket
        .send(tokio_tungstenite::tungstenite::Message::binary(vec![
            1, 2, 3,
        ]))
        .await
        .unwrap();
    let frame = ws.next_frame(LIMIT).await;
    assert!(frame[0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{frame:?}"))
        .contains("Binary frames"));
    // Over the request limit (32,768 bytes): Salesforce's 413, and the socket goes on.
    let big = format!(r#"[{{"channel":"/a","data":"{}"}}]"#, "x".repeat(40_000));
    ws.socket
        .send(tokio_tungstenite::tungstenite::Message::text(big))
        .await
        .unwrap();
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(
        frame[0]["error"], "413::Maximum Request Size Exceeded",
        "{frame:?}"
    );
    ws_handshake(&mut ws).await;
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_message_past_the_hard_limit_closes_with_413() {
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let huge = "x".repeat(2 << 20);
    // The server may close before the whole message is written.
    let _ = ws
        .socket
        .send(tokio_tungstenite::tungstenite::Message::text(huge))
        .await;
    let closed = within(async {
        loop {
            match ws.socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame with a reason");
    assert_eq!(u16::from(closed.code), 1009);
    assert_eq!(closed.reason.as_str(), "413::Maximum Request Size Exceeded");
    server.stop().await;
}

#[tokio::test]
async fn websocket_new_connect_releases_the_held_one() {
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws_connect(&mut ws, &cid, "first").await;
    ws.next_frame(LIMIT).await;
    ws_connect(&mut ws, &cid, "held").await;
    let session = server.engine.session(&cid).unwrap();
    eventually(|| session.is_holding()).await;
    ws_connect(&mut ws, &cid, "next").await;
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(frame[0]["id"], "held");
    assert_eq!(frame[0]["successful"], true);
    server.stop().await;
}

#[tokio::test]
async fn websocket_shutdown_answers_the_held_connect_and_closes() {
    let server = TestServer::start(long_hold()).await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws_connect(&mut ws, &cid, "1").await;
    ws.next_frame(LIMIT).await;
    ws_connect(&mut ws, &cid, "2").await;
    let session = server.engine.session(&cid).unwrap();
    eventually(|| session.is_holding()).await;
    let stopping = tokio::spawn(server.stop());
    let frame = ws.next_frame(LIMIT).await;
    assert_eq!(frame[0]["id"], "2");
    assert_eq!(frame[0]["advice"]["reconnect"], "retry");
    within(stopping).await.unwrap();
}

#[tokio::test]
async fn the_concurrent_client_allocation_is_enforced_at_handshake() {
    let server = TestServer::start(EngineConfig {
        max_sessions: Some(2),
        ..quick_config()
    })
    .await;
    let (mut a, mut b) = (server.client(), server.client());
    a.handshake().await;
    b.handshake().await;
    let third = server
        .client()
        .post(json!([{"channel":"/meta/handshake","version":"1.0","id":"3"}]))
        .await;
    assert_eq!(third[0]["error"], "403::Handshake denied");
    assert_eq!(
        third[0]["ext"]["sfdc"]["failureReason"],
        "403::Organization concurrent user limit exceeded"
    );
    assert_eq!(third[0]["advice"]["reconnect"], "none");
    // A session that leaves frees its place.
    a.post(json!([{"channel":"/meta/disconnect","clientId":a.id()}]))
        .await;
    let mut fourth = server.client();
    fourth.handshake().await;
    server.stop().await;
}

/// One delivery round that queues more than a frame holds: the rest follows without another
/// event to wake the socket (the dispatcher wakes a session only when its queue was empty).
#[tokio::test]
async fn a_round_larger_than_a_frame_is_sent_in_full_over_websocket() {
    const TOTAL: usize = 35;
    let server = TestServer::start(EngineConfig {
        max_messages_per_reply: 10,
        ..long_hold()
    })
    .await;
    let mut ws = WsClient::connect(&server.ws_url()).await;
    let cid = ws_handshake(&mut ws).await;
    ws.send(json!([
        {"channel":"/meta/subscribe","clientId":cid,"subscription":"/burst"},
        {"channel":"/meta/connect","clientId":cid,"connectionType":"websocket"}
    ]))
    .await;
    ws.until_channel("/meta/connect", LIMIT).await;
    ws_connect(&mut ws, &cid, "3").await;
    let session = server.engine.session(&cid).unwrap();
    eventually(|| session.is_holding()).await;
    let burst = events("/burst", (0..TOTAL).map(|i| i.to_string()));
    server.engine.append(burst).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < TOTAL {
        let frame = ws.next_frame(LIMIT).await;
        assert!(
            frame.len() <= 10,
            "a frame carried {} messages",
            frame.len()
        );
        seen.extend(
            frame
                .iter()
                .filter_map(|m| m["data"]["text"].as_str().map(str::to_owned)),
        );
    }
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected);
    server.stop().await;
}

#[tokio::test]
async fn data_no_client_could_decode_is_refused_and_its_neighbours_are_stored() {
    let server = TestServer::start(long_hold()).await;
    let mut subscriber = server.client();
    subscriber.open().await;
    assert_eq!(
        subscriber.subscribe(json!("/news")).await["successful"],
        true
    );
    let mut publisher = server.client();
    publisher.open().await;
    let cid = publisher.id().to_owned();
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let body = format!(
        r#"[{{"channel":"/news","clientId":"{cid}","id":"surrogate","data":{{"t":"\ud800"}}}},
            {{"channel":"/news","clientId":"{cid}","id":"good","data":{{"text":"kept"}}}},
            {{"channel":"/news","clientId":"{cid}","id":"deep","data":{deep}}}]"#
    );
    let response = publisher.post_raw(body).await;
    assert_eq!(response.status, 200);
    let replies = response.body;
    assert_eq!(
        replies[0]["error"],
        "400::Malformed message: data contains a lone UTF-16 surrogate (\\ud800), which clients \
         cannot decode"
    );
    assert_eq!(replies[1]["successful"], true, "{replies:?}");
    assert_eq!(
        replies[2]["error"],
        "400::Malformed message: data is nested deeper than 64 levels"
    );
    assert_eq!(subscriber.texts_until("kept").await, vec!["kept"]);
}
