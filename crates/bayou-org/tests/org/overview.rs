//! The operator overview (`GET /admin/overview`) and the browser's way to authenticate a
//! handshake (`ext.authorization`), over real HTTP.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use crate::support::{start, Running, USER};

async fn overview(org: &Running, token: &str) -> (u16, Value) {
    let response = org
        .http
        .get(format!("{}/admin/overview", org.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn handshake_with_ext(ext: Value) -> Value {
    json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":ext}])
}

#[tokio::test]
async fn the_overview_needs_the_admin_token() {
    let org = start(OrgConfig::default()).await;
    let (status, body) = overview(&org, "guess").await;
    assert_eq!(status, 401, "{body}");
    let token = org.login_token().await;
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
    let token = org.login_token().await;
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

    let (status, o) = overview(&org, crate::support::ADMIN).await;
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
    let (_, o) = overview(&org, crate::support::ADMIN).await;
    assert_eq!(o["deliveryDelayMs"], 250);
}

#[tokio::test]
async fn a_handshake_may_carry_the_token_in_ext_when_it_has_no_header() {
    let org = start(OrgConfig::default()).await;
    let token = org.login_token().await;
    for form in [
        format!("Bearer {token}"),
        format!("OAuth {token}"),
        token.clone(),
    ] {
        let reply = org
            .bayeux(None, handshake_with_ext(json!({"authorization": form})))
            .await
            .remove(0);
        assert_eq!(reply["successful"], true, "{form}: {reply}");
        // The session belongs to the token's user and is checked on every connect as usual.
        let client_id = reply["clientId"].as_str().unwrap();
        let connect = json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling"}]);
        assert_eq!(org.bayeux(None, connect).await[0]["successful"], true);
    }
}

#[tokio::test]
async fn a_bad_token_in_ext_is_denied_and_the_header_wins() {
    let org = start(OrgConfig::default()).await;
    let token = org.login_token().await;
    let bogus = handshake_with_ext(json!({"authorization": "Bearer not-a-token"}));
    let reply = org.bayeux(None, bogus.clone()).await.remove(0);
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Handshake denied");
    assert_eq!(
        reply["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );

    let header = format!("Bearer {token}");
    let reply = org.bayeux(Some(&header), bogus).await.remove(0);
    assert_eq!(
        reply["successful"], true,
        "a valid header is used, the ext ignored: {reply}"
    );

    let good_ext = handshake_with_ext(json!({"authorization": header}));
    let reply = org
        .bayeux(Some("Bearer not-a-token"), good_ext)
        .await
        .remove(0);
    assert_eq!(
        reply["successful"], false,
        "an invalid header is not rescued by the ext"
    );

    let not_a_string = handshake_with_ext(json!({"authorization": 42}));
    let reply = org.bayeux(None, not_a_string).await.remove(0);
    assert_eq!(
        reply["ext"]["sfdc"]["failureReason"],
        "401::Request requires authentication"
    );
}
