//! The operator overview (`GET /admin/overview`), over real HTTP.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou, USER};

async fn overview(org: &Bayou, token: &str) -> (u16, Value) {
    org.get_as(token, "/admin/overview", &[]).await
}

#[tokio::test]
async fn the_overview_needs_the_admin_token() {
    let org = start(OrgConfig::default()).await;
    let (status, body) = overview(&org, "guess").await;
    assert_eq!(status, 401, "{body}");
    let token = org.token().await;
    let (status, _) = overview(&org, &token).await;
    assert_eq!(status, 401, "a user's access token is not the admin token");
}

#[tokio::test]
async fn the_overview_counts_sessions_subscriptions_events_and_their_latency() {
    let org = start(OrgConfig {
        max_push_topics: Some(5),
        ..OrgConfig::default()
    })
    .await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        json!({"Name":"Watched","Query":"SELECT Id, Name FROM Account","ApiVersion":66.0}),
    )
    .await;
    let session = org.subscribe(&token, "/topic/Watched", None).await;
    let other = org.subscribe(&token, "/topic/Watched", None).await;
    org.subscribe(&token, "/chat/**", None).await;
    org.create(&token, "Account", json!({"Name":"Counted"}))
        .await;
    org.events(&session, 1).await;
    org.events(&other, 1).await;

    let (status, o) = overview(&org, bayou_testkit::ADMIN).await;
    assert_eq!(status, 200, "{o}");
    let sessions = o["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let mine = sessions
        .iter()
        .find(|s| s["clientId"] == session.client_id.as_str())
        .expect("the session is listed");
    assert_eq!(mine["username"], USER);
    assert_eq!(mine["subscriptions"], json!(["/topic/Watched"]));
    assert_eq!(
        o["subscriptions"],
        json!([{"channel":"/chat/**","subscriptions":1},{"channel":"/topic/Watched","subscriptions":2}])
    );
    assert_eq!(
        o["published"], 1,
        "one event: the Account's on /topic/Watched"
    );
    assert_eq!(o["delivered"], 2, "to two sessions");
    assert_eq!(o["log"]["head"], 1);
    assert_eq!(o["log"]["events"], 1);
    let latency = o["deliveryLatency"]["channels"].as_array().unwrap();
    assert_eq!(latency.len(), 1, "{latency:?}");
    assert_eq!(latency[0]["channel"], "/topic/Watched");
    assert_eq!(
        latency[0]["count"], 1,
        "counted once per event, not per copy"
    );
    let buckets = latency[0]["buckets"].as_array().unwrap();
    assert_eq!(
        buckets.len(),
        o["deliveryLatency"]["bucketBoundsMs"]
            .as_array()
            .unwrap()
            .len()
            + 1
    );
    assert_eq!(
        o["allocations"],
        json!([
            {"name":"concurrentClients","used":3,"max":null},
            {"name":"pushTopics","used":1,"max":5},
            {"name":"streamingChannels","used":0,"max":null}
        ])
    );
    assert_eq!(
        o["retention"][0],
        json!({"pattern":"/topic/**","maxAgeSeconds":86_400,"maxBytes":null})
    );
    assert_eq!(o["deliveryDelayMs"], 0);
    org.admin("delay-deliveries", json!({"ms": 250})).await;
    let (_, o) = overview(&org, bayou_testkit::ADMIN).await;
    assert_eq!(o["deliveryDelayMs"], 250);
}
