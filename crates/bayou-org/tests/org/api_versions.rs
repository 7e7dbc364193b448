//! Streaming API versions before 37.0, emulated with `min_api_version` (Salesforce retired them):
//! accepted down to the configured version, without replay, with `+0000` dates, and without
//! `deleted`/`undeleted` PushTopic notifications below 29.0.

use bayou_org::OrgConfig;
use bayou_server::EngineConfig;
use bayou_testkit::{start, start_with, Bayou};
use serde_json::{json, Value};

async fn legacy_org() -> Bayou {
    let engine = EngineConfig {
        min_api_version: 23.0,
        ..EngineConfig::default()
    };
    start_with(OrgConfig::default(), engine).await
}

/// A session on `/cometd/{version}` subscribed to `/topic/Accounts` with `ext.replay` -2.
async fn subscriber(org: &Bayou, auth: &str, version: &str) -> (String, Value) {
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let hello = org.bayeux_at(version, Some(auth), handshake).await;
    assert_eq!(hello[0]["successful"], true, "{hello:?}");
    let client = hello[0]["clientId"].as_str().unwrap().to_owned();
    let subscribe = json!([
        {"channel":"/meta/connect","clientId":client,"connectionType":"long-polling"},
        {"channel":"/meta/subscribe","clientId":client,"subscription":"/topic/Accounts","ext":{"replay":{"/topic/Accounts":-2}}}
    ]);
    let replies = org.bayeux_at(version, Some(auth), subscribe).await;
    assert_eq!(replies[1]["successful"], true, "{replies:?}");
    (client, hello[0].clone())
}

/// What the session has been sent: connects until `count` events arrived, or one empty connect.
async fn events(org: &Bayou, auth: &str, version: &str, client: &str, count: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..50 {
        let connect = json!([{"channel":"/meta/connect","clientId":client,"connectionType":"long-polling","advice":{"timeout":300}}]);
        let replies = org.bayeux_at(version, Some(auth), connect).await;
        let before = events.len();
        events.extend(replies.into_iter().filter(|m| m.get("data").is_some()));
        if events.len() >= count || (count == 0 && events.len() == before) {
            break;
        }
    }
    events
}

#[tokio::test]
async fn versions_before_37_are_refused_unless_emulated() {
    let org = start(OrgConfig::default()).await;
    let auth = format!("Bearer {}", org.token().await);
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let replies = org.bayeux_at("24.0", Some(&auth), handshake.clone()).await;
    assert_eq!(
        replies[0]["error"],
        "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/66.0'"
    );

    let legacy = legacy_org().await;
    let auth = format!("Bearer {}", legacy.token().await);
    let replies = legacy
        .bayeux_at("22.0", Some(&auth), handshake.clone())
        .await;
    assert_eq!(
        replies[0]["error"],
        "400::Unsupported API version. Only API versions '23.0' and later are supported. URI format: '/cometd/66.0'"
    );
    let replies = legacy.bayeux_at("23.0", Some(&auth), handshake).await;
    assert_eq!(replies[0]["successful"], true, "{replies:?}");
    assert_eq!(
        replies[0].get("ext"),
        None,
        "no replay advertised before 37.0"
    );
}

#[tokio::test]
async fn old_versions_get_no_replay_offset_dates_and_removals_only_from_29() {
    let org = legacy_org().await;
    let token = org.token().await;
    let auth = format!("Bearer {token}");
    org.create(
        &token,
        "PushTopic",
        json!({"Name": "Accounts", "Query": "SELECT Id, Name FROM Account", "ApiVersion": 24.0}),
    )
    .await;
    org.create(&token, "Account", json!({"Name": "Before"}))
        .await;

    let (at_24, hello) = subscriber(&org, &auth, "24.0").await;
    assert_eq!(hello.get("ext"), None);
    let (at_29, _) = subscriber(&org, &auth, "29.0").await;
    let (at_37, hello) = subscriber(&org, &auth, "37.0").await;
    assert_eq!(hello["ext"]["replay"], true);

    // -2 replays only from 37.0: the older sessions start with new events.
    let replayed = events(&org, &auth, "37.0", &at_37, 1).await;
    assert_eq!(replayed[0]["data"]["sobject"]["Name"], "Before");
    assert!(events(&org, &auth, "24.0", &at_24, 0).await.is_empty());

    let id = org
        .create(&token, "Account", json!({"Name": "After"}))
        .await;
    org.delete(&token, "Account", &id).await;
    let old = events(&org, &auth, "24.0", &at_24, 1).await;
    let types = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["data"]["event"]["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(types(&old), ["created"]);
    let date = old[0]["data"]["event"]["createdDate"].as_str().unwrap();
    assert!(date.ends_with("+0000") && date.len() == 28, "{date}");
    let at_29_events = events(&org, &auth, "29.0", &at_29, 2).await;
    assert_eq!(types(&at_29_events), ["created", "deleted"]);
    assert!(at_29_events[0]["data"]["event"]["createdDate"]
        .as_str()
        .unwrap()
        .ends_with("+0000"));
    let current = events(&org, &auth, "37.0", &at_37, 2).await;
    assert_eq!(types(&current), ["created", "deleted"]);
    assert!(current[1]["data"]["event"]["createdDate"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // The 24.0 session was not sent the deletion: nothing more arrives for it.
    assert!(events(&org, &auth, "24.0", &at_24, 0).await.is_empty());
}
