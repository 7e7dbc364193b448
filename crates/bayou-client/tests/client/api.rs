//! The API surface against the emulated org: typed Salesforce payloads from REST-made
//! changes, subscribe/unsubscribe while running, Bayeux publish, extensions, the messages()
//! tap, stopping, and a static token that cannot be renewed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bayou_client::{
    AuthError, CdcPayload, ChangeEvent, Client, ClientError, Extension, GenericEvent, Notice,
    PlatformEvent, PushTopicEvent, RestClient, StaticToken, TransportKind,
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
struct Account {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
}

#[tokio::test]
async fn typed_salesforce_events_from_rest_changes() {
    let bayou = start_engine(fast_config()).await;
    let rest = RestClient::new(password_flow(&bayou)).instance_url(&bayou.base);
    rest.create(
        "PushTopic",
        json!({"Name": "AccountUpdates", "Query": "SELECT Id, Name FROM Account", "ApiVersion": 66.0}),
    )
    .await
    .unwrap();
    let response = bayou
        .http
        .post(format!("{}/admin/platform-events", bayou.base))
        .bearer_auth(ADMIN)
        .body(json!({"name": "Low_Ink__e", "fields": {"Printer_Model__c": "text"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let response = bayou
        .http
        .post(format!("{}/admin/cdc", bayou.base))
        .bearer_auth(ADMIN)
        .body(json!({"entity": "Account", "enabled": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    rest.create("StreamingChannel", json!({"Name": "/u/typed"}))
        .await
        .unwrap();

    let client = client_for(&bayou, TransportKind::Auto).build().unwrap();
    let mut notices = client.notice_receiver();
    client.subscribe("/topic/AccountUpdates").await.unwrap();
    client.subscribe("/event/Low_Ink__e").await.unwrap();
    client.subscribe("/data/AccountChangeEvent").await.unwrap();
    client.subscribe("/u/typed").await.unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    let connected = notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Connected { .. })
    })
    .await;
    // Auto picks WebSocket when the server offers it.
    assert!(
        matches!(&connected, Notice::Connected { transport, .. } if transport == "websocket"),
        "{connected:?}"
    );
    all_subscribed(
        &mut notices,
        &[
            "/topic/AccountUpdates",
            "/event/Low_Ink__e",
            "/data/AccountChangeEvent",
            "/u/typed",
        ],
    )
    .await;

    let id = rest
        .create("Account", json!({"Name": "Express Logistics"}))
        .await
        .unwrap();
    rest.update(
        "Account",
        &id,
        json!({"Name": "Express Logistics and Transport"}),
    )
    .await
    .unwrap();
    let published = rest
        .publish_event("Low_Ink__e", json!({"Printer_Model__c": "XZO-5"}))
        .await
        .unwrap();
    assert_eq!(published["success"], true, "{published}");
    rest.delete("Account", &id).await.unwrap();
    // By channel name, looked up with SOQL as jsforce does; an empty user list broadcasts.
    let pushed = rest.push("/u/typed", "hello", &[]).await.unwrap();
    assert_eq!(pushed["fanoutCount"], -1, "{pushed}");

    // 3 PushTopic, 1 platform event, 3 change events, 1 generic.
    let got = take(&mut events, 8, WAIT).await;
    let changes: Vec<ChangeEvent<CdcPayload>> = got
        .iter()
        .filter(|e| e.channel == "/data/AccountChangeEvent")
        .map(|e| e.change_event().unwrap())
        .collect();
    let change_types: Vec<&str> = changes
        .iter()
        .map(|c| c.payload.header.change_type.as_str())
        .collect();
    assert_eq!(change_types, vec!["CREATE", "UPDATE", "DELETE"]);
    assert!(changes
        .iter()
        .all(|c| c.payload.header.entity_name == "Account"
            && c.payload.header.record_ids == [id.clone()]));
    let generic: Vec<GenericEvent> = got
        .iter()
        .filter(|e| e.channel == "/u/typed")
        .map(|e| e.generic().unwrap())
        .collect();
    assert_eq!(generic.len(), 1);
    assert_eq!(generic[0].payload, "hello");
    let topic: Vec<PushTopicEvent<Value>> = got
        .iter()
        .filter(|e| e.channel == "/topic/AccountUpdates")
        .map(|e| e.pushtopic().unwrap())
        .collect();
    let kinds: Vec<&str> = topic.iter().map(|e| e.event.change_type.as_str()).collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted"]);
    let created: Account = serde_json::from_value(topic[0].sobject.clone()).unwrap();
    assert_eq!(
        (created.id.as_str(), created.name.as_str()),
        (id.as_str(), "Express Logistics")
    );
    let low_ink: Vec<PlatformEvent<Value>> = got
        .iter()
        .filter(|e| e.channel == "/event/Low_Ink__e")
        .map(|e| e.platform_event().unwrap())
        .collect();
    assert_eq!(low_ink.len(), 1);
    assert_eq!(low_ink[0].payload["Printer_Model__c"], "XZO-5");
    assert!(low_ink[0].event.event_uuid.is_some());
    // Every event's replay id is the one in its payload.
    for event in &got {
        assert_eq!(event.replay_id, event.data["event"]["replayId"].as_i64());
    }
}

/// Counts outgoing connects and marks incoming events.
struct Probe {
    connects: Arc<AtomicUsize>,
}

impl Extension for Probe {
    fn outgoing(&self, message: &mut Value) {
        if message["channel"] == "/meta/connect" {
            self.connects.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn incoming(&self, message: &mut Value) {
        if message.get("data").is_some() {
            message["data"]["seen_by_extension"] = json!(true);
        }
    }
}

#[tokio::test]
async fn subscribe_unsubscribe_publish_and_extensions_while_running() {
    let bayou = start_engine(fast_config()).await;
    let connects = Arc::new(AtomicUsize::new(0));
    let client = client_for(&bayou, TransportKind::LongPolling)
        .extension(Probe {
            connects: connects.clone(),
        })
        .build()
        .unwrap();
    let mut messages = client.messages();
    let mut events = client.events().unwrap();
    assert!(matches!(client.events(), Err(ClientError::EventsTaken)));
    let running = client.start().unwrap();
    assert!(matches!(client.events(), Err(ClientError::EventsTaken)));
    // After start, subscribe waits for the server's answer.
    client.subscribe("/chat/a").await.unwrap();
    client.subscribe("/chat/b/**").await.unwrap();
    let reply = client.publish("/chat/a", json!({"n": 0})).await.unwrap();
    assert_eq!(reply["successful"], true);
    assert!(reply["ext"]["replayId"].is_i64(), "{reply}");
    client
        .publish("/chat/b/x/y", json!({"n": 1}))
        .await
        .unwrap();
    let got = take(&mut events, 2, WAIT).await;
    assert_eq!(numbers(&got), vec![0, 1]);
    assert_eq!(got[1].subscription, "/chat/b/**");
    assert!(got.iter().all(|e| e.data["seen_by_extension"] == true));

    client.unsubscribe("/chat/a").await.unwrap();
    client.publish("/chat/a", json!({"n": 2})).await.unwrap();
    client.publish("/chat/b/z", json!({"n": 3})).await.unwrap();
    assert_eq!(numbers(&take(&mut events, 1, WAIT).await), vec![3]);
    assert!(connects.load(Ordering::SeqCst) >= 1);

    // The tap saw the meta replies too.
    let mut saw_handshake = false;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(200), messages.next()).await
    {
        saw_handshake |= message["channel"] == "/meta/handshake";
    }
    assert!(saw_handshake);

    // Refusals are errors, not silence.
    let refused = client.subscribe("/topic/DoesNotExist").await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::Bayeux { error, .. } if error.starts_with("400::")),
        "{refused}"
    );
    assert!(matches!(
        client.subscribe("no-slash").await,
        Err(ClientError::InvalidChannel { .. })
    ));

    // Stopping while a connect is held returns promptly.
    let started = std::time::Instant::now();
    running.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        client.publish("/chat/a", json!({})).await,
        Err(ClientError::Stopped)
    ));
}

#[tokio::test]
async fn a_revoked_static_token_stops_the_client_with_a_clear_error() {
    let bayou = start_engine(fast_config()).await;
    let client = Client::builder()
        .instance_url(&bayou.base)
        .auth(StaticToken::new(bayou.token().await))
        .transport(TransportKind::LongPolling)
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    client.subscribe("/chat/static").await.unwrap();
    let running = client.start().unwrap();
    notice(&mut notices, WAIT, subscribed("/chat/static")).await;
    bayou
        .fault("invalidate-tokens", json!({"username": USER}))
        .await;
    let result = tokio::time::timeout(WAIT, running.wait()).await.unwrap();
    assert!(
        matches!(&result, Err(ClientError::Auth(AuthError::CannotRenew(_)))),
        "{result:?}"
    );
    let stopped = notice(&mut notices, WAIT, |n| matches!(n, Notice::Stopped { .. })).await;
    assert!(
        matches!(stopped, Notice::Stopped { error: Some(_) }),
        "{stopped:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_stop_the_client_instead_of_retrying() {
    let bayou = start_engine(fast_config()).await;
    let client = Client::builder()
        .instance_url(&bayou.base)
        .auth(bayou_client::PasswordFlow::new(
            &bayou.base,
            CLIENT,
            SECRET,
            USER,
            "wrong password",
        ))
        .build()
        .unwrap();
    let running = client.start().unwrap();
    let result = tokio::time::timeout(WAIT, running.wait()).await.unwrap();
    let Err(ClientError::Auth(AuthError::Refused(reason))) = &result else {
        panic!("{result:?}");
    };
    assert!(reason.starts_with("invalid_grant"), "{reason}");
}

#[tokio::test]
async fn auto_falls_back_to_long_polling_when_websocket_is_refused() {
    // Salesforce's behaviour: WebSocket upgrades get HTTP 405.
    let config = bayou_server::EngineConfig {
        transports: vec![bayou_server::TransportKind::LongPolling],
        ..fast_config()
    };
    let bayou = start_engine(config).await;
    let client = client_for(&bayou, TransportKind::Auto).build().unwrap();
    let mut notices = client.notice_receiver();
    client.subscribe("/chat/auto").await.unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    let connected = notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Connected { .. })
    })
    .await;
    assert!(
        matches!(&connected, Notice::Connected { transport, .. } if transport == "long-polling"),
        "{connected:?}"
    );
    notice(&mut notices, WAIT, subscribed("/chat/auto")).await;
    bayou.publish("/chat/auto", 0..2).await;
    assert_eq!(numbers(&take(&mut events, 2, WAIT).await), vec![0, 1]);
}

#[tokio::test]
async fn stop_interrupts_a_held_connect() {
    // Connects held for a minute: stopping must not wait for the hold to end.
    let config = bayou_server::EngineConfig {
        timeout: Duration::from_secs(60),
        ..fast_config()
    };
    let bayou = start_engine(config).await;
    for transport in [TransportKind::LongPolling, TransportKind::WebSocket] {
        let client = client_for(&bayou, transport).build().unwrap();
        let mut notices = client.notice_receiver();
        let mut messages = client.messages();
        client.subscribe("/chat/held").await.unwrap();
        let running = client.start().unwrap();
        // Not taken before start: events go to messages() only, and nothing waits on them.
        assert!(matches!(client.events(), Err(ClientError::Config(_))));
        let Notice::Connected { client_id, .. } = notice(&mut notices, WAIT, |n| {
            matches!(n, Notice::Connected { .. })
        })
        .await
        else {
            unreachable!()
        };
        notice(&mut notices, WAIT, subscribed("/chat/held")).await;
        bayou.publish("/chat/held", 0..3).await;
        // The events arrived, and the connect sent after them is held by the server.
        let mut delivered = 0;
        while delivered < 3 {
            let message = tokio::time::timeout(WAIT, messages.next())
                .await
                .expect("the events did not arrive")
                .unwrap()
                .unwrap();
            if message["channel"] == "/chat/held" {
                delivered += 1;
            }
        }
        let engine = bayou.engine();
        eventually("the next connect is held", WAIT, || {
            engine
                .session(&client_id)
                .is_some_and(|s| s.is_holding() && s.queued() == 0)
        })
        .await;
        let started = std::time::Instant::now();
        client.stop_handle().stop();
        running.wait().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!client.is_running());
    }
}

#[tokio::test]
async fn every_auth_provider_logs_in_and_streams() {
    use bayou_client::{AuthProvider, ClientCredentials, RefreshToken, SoapLogin};
    let bayou = start_engine(fast_config()).await;
    let login: Value = bayou
        .http
        .post(format!("{}/services/oauth2/token", bayou.base))
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh_token = login["refresh_token"].as_str().unwrap().to_owned();
    let providers: Vec<(&str, Arc<dyn AuthProvider>)> = vec![
        ("password", Arc::new(password_flow(&bayou))),
        (
            "client credentials",
            Arc::new(ClientCredentials::new(&bayou.base, CLIENT, SECRET)),
        ),
        (
            "refresh token",
            Arc::new(RefreshToken::new(
                &bayou.base,
                CLIENT,
                Some(SECRET.to_owned()),
                refresh_token,
            )),
        ),
        (
            "soap",
            Arc::new(SoapLogin::new(&bayou.base, USER, PASSWORD)),
        ),
        ("static", Arc::new(StaticToken::new(bayou.token().await))),
    ];
    for (n, (name, provider)) in providers.into_iter().enumerate() {
        // No instance URL: it comes from the login (except for the static token).
        let mut builder = Client::builder()
            .auth_shared(provider)
            .transport(TransportKind::LongPolling);
        if name == "static" {
            builder = builder.instance_url(&bayou.base);
        }
        let client = builder.build().unwrap();
        let mut notices = client.notice_receiver();
        client.subscribe("/chat/auth").await.unwrap();
        let mut events = client.events().unwrap();
        let running = client.start().unwrap();
        notice(&mut notices, WAIT, subscribed("/chat/auth")).await;
        bayou.publish("/chat/auth", n as u64..n as u64 + 1).await;
        let got = take(&mut events, 1, WAIT).await;
        assert_eq!(numbers(&got), vec![n as u64], "{name}");
        running.stop().await.unwrap();
    }
}
