//! Daily delivery allocations: past the limit the subscriber's connect gets
//! `403::Organization total events daily limit exceeded` (advice none), new subscriptions are
//! refused, and the events stay stored.

use bayou_org::OrgConfig;
use bayou_server::engine::DeliveryAllocation;
use bayou_server::EngineConfig;
use reqwest::Method;
use serde_json::json;

use bayou_testkit::{start_with, Bayou};

/// An org whose PushTopic deliveries are limited to `per_day`, with a PushTopic `name` on
/// Account, and a token.
async fn topic_with_allocation(name: &str, per_day: u64) -> (Bayou, String) {
    let engine = EngineConfig {
        delivery_allocations: vec![DeliveryAllocation {
            name: "PushTopic".into(),
            patterns: vec!["/topic/**".into()],
            per_day,
        }],
        ..EngineConfig::default()
    };
    let org = start_with(OrgConfig::default(), engine).await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        json!({"Name": name, "Query": "SELECT Id, Name FROM Account", "ApiVersion": 66.0}),
    )
    .await;
    (org, token)
}

#[tokio::test]
async fn deliveries_past_the_daily_allocation_end_the_session_with_salesforces_error() {
    let (org, token) = topic_with_allocation("Accounts", 2).await;
    let session = org.subscribe(&token, "/topic/Accounts", None).await;
    // Deliveries on other channels do not count.
    let chat = org.subscribe(&token, "/chat/room", None).await;
    for i in 0..3 {
        let reply = org
            .bayeux(
                Some(&chat.auth),
                json!([{"channel":"/chat/room","clientId":chat.client_id,"data":{"i":i}}]),
            )
            .await
            .remove(0);
        assert_eq!(reply["successful"], true, "{reply}");
    }
    assert_eq!(org.events(&chat, 3).await.len(), 3);

    for name in ["one", "two"] {
        org.create(&token, "Account", json!({"Name": name})).await;
        let events = org.events(&session, 1).await;
        assert_eq!(events[0]["data"]["sobject"]["Name"], name);
    }
    org.create(&token, "Account", json!({"Name": "three"}))
        .await;
    let mut reply = json!(null);
    for _ in 0..50 {
        let replies = org
            .bayeux(Some(&session.auth), json!([{"channel":"/meta/connect","clientId":session.client_id,"connectionType":"long-polling","advice":{"timeout":200}}]))
            .await;
        reply = replies.last().unwrap().clone();
        if reply["successful"] == false {
            break;
        }
        assert!(
            replies.len() == 1,
            "the third event must not be delivered: {replies:?}"
        );
    }
    assert_eq!(
        reply["error"],
        "403::Organization total events daily limit exceeded"
    );
    assert_eq!(reply["advice"]["reconnect"], "none");

    // A new subscriber is refused with the same error.
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"].clone();
    let refused = org
        .bayeux(Some(&auth), json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/topic/Accounts","ext":{"replay":{"/topic/Accounts":-2}}}]))
        .await
        .remove(0);
    assert_eq!(
        refused["error"],
        "403::Organization total events daily limit exceeded"
    );

    let (status, usage) = org.admin_get("allocations").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        usage["dailyDeliveries"],
        json!([{"name": "PushTopic", "max": 2, "used": 2, "remaining": 0}])
    );
    assert_eq!(usage["pushTopics"]["used"], 1);
    let (status, limits) = org.rest(&token, Method::GET, "limits", None).await;
    assert_eq!(status, 200, "{limits}");
    assert_eq!(
        limits["DailyStreamingApiEvents"],
        json!({"Max": 2, "Remaining": 0})
    );
    assert_eq!(
        limits["DailyDeliveredPlatformEvents"],
        json!({"Max": 4_294_967_295_u64, "Remaining": 4_294_967_295_u64})
    );
    assert_eq!(
        limits["StreamingApiConcurrentClients"]["Max"],
        4_294_967_295_u64
    );

    // The third change was stored all the same, with its event (replayable once the window
    // has room again).
    let body = org.query(&token, "SELECT Id FROM Account").await;
    assert_eq!(body["totalSize"], 3);
}

#[tokio::test]
async fn events_a_filter_keeps_from_a_subscriber_are_not_counted() {
    let (org, token) = topic_with_allocation("Named", 1).await;
    let session = org
        .subscribe(&token, "/topic/Named?Name='wanted'", None)
        .await;
    org.create(&token, "Account", json!({"Name": "skipped"}))
        .await;
    org.create(&token, "Account", json!({"Name": "wanted"}))
        .await;
    let events = org.events(&session, 1).await;
    assert_eq!(events[0]["data"]["sobject"]["Name"], "wanted");
    let (status, usage) = org.admin_get("allocations").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["dailyDeliveries"][0]["used"], 1);
}

#[tokio::test]
async fn a_session_cut_off_by_its_allocation_gets_nothing_after_the_event_it_missed() {
    let (org, token) = topic_with_allocation("Cut", 1).await;
    let session = org.subscribe(&token, "/topic/Cut", None).await;
    let subscribe = json!([{"channel":"/meta/subscribe","clientId":session.client_id,"subscription":"/chat/after"}]);
    let reply = org.bayeux(Some(&session.auth), subscribe).await.remove(0);
    assert_eq!(reply["successful"], true, "{reply}");
    org.create(&token, "Account", json!({"Name": "first"}))
        .await;
    assert_eq!(
        org.events(&session, 1).await[0]["data"]["sobject"]["Name"],
        "first"
    );

    // Held back by a delivery delay, the next topic event and a chat event published after it
    // reach the dispatcher in one batch.
    let (status, _) = org.admin("delay-deliveries", json!({"ms": 400})).await;
    assert_eq!(status, 200);
    org.create(&token, "Account", json!({"Name": "second"}))
        .await;
    let publish = json!([{"channel":"/chat/after","clientId":session.client_id,"data":{"n":1}}]);
    let reply = org.bayeux(Some(&session.auth), publish).await.remove(0);
    assert_eq!(reply["successful"], true, "{reply}");
    let mut seen = Vec::new();
    let mut last = json!(null);
    for _ in 0..50 {
        let connect = json!([{"channel":"/meta/connect","clientId":session.client_id,"connectionType":"long-polling","advice":{"timeout":300}}]);
        let replies = org.bayeux(Some(&session.auth), connect).await;
        last = replies.last().unwrap().clone();
        seen.extend(replies.into_iter().filter(|m| m.get("data").is_some()));
        if last["successful"] == false {
            break;
        }
    }
    assert_eq!(
        last["error"],
        "403::Organization total events daily limit exceeded"
    );
    // Had the chat event been delivered, a client resuming from it would never get "second".
    // (Without the dispatcher closing the session at once, that happened only when the held
    // connect drained between the two events: this guards the property, it cannot force the
    // race.)
    assert!(seen.is_empty(), "nothing after the missed event: {seen:?}");
}
