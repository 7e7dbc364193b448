//! Fault injection through the admin API, each fault observed the way a streaming client sees
//! it.

use std::time::Duration;

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou};

/// A logged-in streaming session subscribed to `/chat/faults`: its auth header and clientId.
async fn streaming(org: &Bayou) -> (String, String) {
    let token = org.token().await;
    let session = org.subscribe(&token, "/chat/faults", None).await;
    (session.auth, session.client_id)
}

fn connect(client_id: &str, timeout_ms: u64) -> Value {
    json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling","advice":{"timeout":timeout_ms}}])
}

#[tokio::test]
async fn the_admin_api_needs_its_token() {
    let org = start(OrgConfig::default()).await;
    let response = org
        .http
        .post(format!("{}/admin/faults/drop-connections", org.base))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, body) = org.admin("bogus", json!({})).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn an_expired_session_gets_unknown_client() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = streaming(&org).await;
    let (status, body) = org
        .admin("expire-session", json!({"clientId": client_id}))
        .await;
    assert_eq!((status, body), (200, json!({"expired": 1})));
    let reply = org
        .bayeux(Some(&auth), connect(&client_id, 0))
        .await
        .remove(0);
    assert_eq!(reply["error"], "403::Unknown client");
    assert_eq!(
        reply["advice"],
        json!({"reconnect": "handshake", "interval": 0})
    );
}

#[tokio::test]
async fn invalidated_tokens_end_sessions_with_401_and_advice_none() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = streaming(&org).await;
    let (_, body) = org
        .admin(
            "invalidate-tokens",
            json!({"username": bayou_testkit::USER}),
        )
        .await;
    assert!(body["revoked"].as_u64().unwrap() >= 1, "{body}");
    let reply = org
        .bayeux(Some(&auth), connect(&client_id, 0))
        .await
        .remove(0);
    assert_eq!(reply["error"], "401::Authentication invalid");
    assert_eq!(reply["advice"], json!({"reconnect": "none", "interval": 0}));
}

#[tokio::test]
async fn dropped_connections_answer_held_connects_and_keep_sessions() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = streaming(&org).await;
    let holder = {
        let (http, base, auth, id) = (
            org.http.clone(),
            org.base.clone(),
            auth.clone(),
            client_id.clone(),
        );
        tokio::spawn(async move {
            let body = connect(&id, 60_000).to_string();
            let r = http
                .post(format!("{base}/cometd/66.0"))
                .header("authorization", auth)
                .body(body)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    // Drop until the held connect is among the dropped (it may not be held yet at first).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = org.admin("drop-connections", json!({})).await;
        if body["held"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connect was never held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let released = tokio::time::timeout(Duration::from_secs(10), holder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released[0]["successful"], true);
    let again = org
        .bayeux(Some(&auth), connect(&client_id, 0))
        .await
        .remove(0);
    assert_eq!(again["successful"], true, "the session survives: {again}");
}

#[tokio::test]
async fn delayed_deliveries_arrive_late_but_arrive() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = streaming(&org).await;
    org.admin("delay-deliveries", json!({"ms": 1500})).await;
    org.bayeux(
        Some(&auth),
        json!([{"channel":"/chat/faults","clientId":client_id,"data":{"n":1}}]),
    )
    .await;
    let quick = org.bayeux(Some(&auth), connect(&client_id, 100)).await;
    assert_eq!(
        quick.len(),
        1,
        "nothing yet within 100 ms of a 1500 ms delay: {quick:?}"
    );
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        got = org
            .bayeux(Some(&auth), connect(&client_id, 1_000))
            .await
            .into_iter()
            .filter(|m| m["channel"] == "/chat/faults")
            .collect();
    }
    assert_eq!(got[0]["data"], json!({"n": 1}));
    org.admin("delay-deliveries", json!({"ms": 0})).await;
}

#[tokio::test]
async fn an_expired_log_makes_old_replay_ids_invalid() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = streaming(&org).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let reply = org
            .bayeux(
                Some(&auth),
                json!([{"channel":"/chat/faults","clientId":client_id,"data":{"n":n}}]),
            )
            .await;
        ids.push(reply[0]["ext"]["replayId"].as_u64().unwrap());
    }
    let (_, body) = org.admin("expire-log", json!({"replayId": ids[1]})).await;
    assert_eq!(body, json!({"removed": 2}));
    let reply = org
        .bayeux(
            Some(&auth),
            json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/chat/faults",
                                      "ext":{"replay":{"/chat/faults": ids[0]}}}]),
        )
        .await
        .remove(0);
    assert!(
        reply["error"].as_str().unwrap().starts_with(&format!(
            "400::The replayId {{{}}} you provided was invalid.",
            ids[0]
        )),
        "{reply}"
    );
}
