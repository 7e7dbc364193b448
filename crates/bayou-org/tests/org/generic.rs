//! Generic streaming: StreamingChannel records, the REST push resource (broadcast and targeted
//! by `userIds`), replay that honours the target, dynamic channels and the channel allocation.

use bayou_org::OrgConfig;
use reqwest::Method;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou, OTHER_PASSWORD, OTHER_USER, PASSWORD, USER};

async fn push(org: &Bayou, token: &str, channel_id: &str, events: Value) -> (u16, Value) {
    org.rest(
        token,
        Method::POST,
        &format!("sobjects/StreamingChannel/{channel_id}/push"),
        Some(json!({ "pushEvents": events })),
    )
    .await
}

#[tokio::test]
async fn channel_names_are_validated_and_unique_ignoring_case() {
    let org = start(OrgConfig::default()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    org.create(
        &token,
        "StreamingChannel",
        json!({"Name": "/u/Notifications"}),
    )
    .await;
    for (name, code) in [
        ("/topic/Nope", "FIELD_INTEGRITY_EXCEPTION"),
        ("/u/", "FIELD_INTEGRITY_EXCEPTION"),
        ("/u/has-dash", "FIELD_INTEGRITY_EXCEPTION"),
        ("/u/notifications", "DUPLICATE_VALUE"),
    ] {
        let (status, body) = org
            .rest(
                &token,
                Method::POST,
                "sobjects/StreamingChannel",
                Some(json!({"Name": name})),
            )
            .await;
        assert_eq!(
            (status, body[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{name}: {body}"
        );
    }
    let (status, body) = org
        .rest(
            &token,
            Method::POST,
            "sobjects/StreamingChannel",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &body[0]["errorCode"]),
        (400, &json!("REQUIRED_FIELD_MISSING"))
    );
    // jsforce finds a channel's id by SOQL before pushing.
    let (status, body) = org
        .rest(
            &token,
            Method::GET,
            "query?q=SELECT+Id,+Name+FROM+StreamingChannel+WHERE+Name='/u/Notifications'",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalSize"], 1);
}

#[tokio::test]
async fn subscribing_needs_the_channel_to_exist_with_the_same_case() {
    let org = start(OrgConfig::default()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    org.create(&token, "StreamingChannel", json!({"Name": "/u/Alerts"}))
        .await;
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"].clone();
    for (channel, error) in [
        ("/u/Missing", "404::Unknown channel"),
        ("/u/alerts", "404::channel names may not vary only by case"),
    ] {
        let reply = org
            .bayeux(
                Some(&auth),
                json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":channel}]),
            )
            .await
            .remove(0);
        assert_eq!(reply["successful"], false);
        assert_eq!(reply["error"], error);
        assert_eq!(reply["subscription"], channel);
    }
    let reply = org
        .bayeux(
            Some(&auth),
            json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/u/Alerts"}]),
        )
        .await
        .remove(0);
    assert_eq!(reply["successful"], true, "{reply}");
}

#[tokio::test]
async fn broadcasts_reach_everyone_and_targeted_pushes_only_their_users() {
    let org = start(OrgConfig::default()).await;
    let (admin_token, admin_id) = org.token_and_user_id(USER, PASSWORD).await;
    let (other_token, other_id) = org.token_and_user_id(OTHER_USER, OTHER_PASSWORD).await;
    let channel_id = org
        .create(&admin_token, "StreamingChannel", json!({"Name": "/u/Team"}))
        .await;
    let admin = org.subscribe(&admin_token, "/u/Team", None).await;
    let other = org.subscribe(&other_token, "/u/Team", None).await;

    let (status, online) = org
        .rest(
            &admin_token,
            Method::GET,
            &format!("sobjects/StreamingChannel/{channel_id}/push"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(online["ChannelName"], "/u/Team");
    let mut ids: Vec<String> = serde_json::from_value(online["OnlineUserIds"].clone()).unwrap();
    ids.sort();
    let mut expected = vec![admin_id.clone(), other_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // One targeted at the admin, one at an offline user, then a broadcast.
    let offline = "005000000000001AAA";
    let (status, results) = push(
        &org,
        &admin_token,
        &channel_id,
        json!([
            {"payload": "for the admin", "userIds": [admin_id]},
            {"payload": "for nobody online", "userIds": [offline]},
            {"payload": "for everyone", "userIds": []}
        ]),
    )
    .await;
    assert_eq!(status, 200, "{results}");
    assert_eq!(
        results,
        json!([
            {"fanoutCount": 1, "userOnlineStatus": {admin_id.clone(): true}},
            {"fanoutCount": 0, "userOnlineStatus": {offline: false}},
            {"fanoutCount": -1, "userOnlineStatus": {}}
        ])
    );

    let admin_events = org.events(&admin, 2).await;
    let payloads = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["data"]["payload"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(payloads(&admin_events), ["for the admin", "for everyone"]);
    let event = &admin_events[0];
    assert_eq!(event["channel"], "/u/Team");
    assert!(event["data"]["event"]["replayId"].as_u64().unwrap() > 0);
    assert!(event["data"]["event"]["createdDate"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // The other user gets the broadcast only (it would have come after the targeted ones).
    assert_eq!(payloads(&org.events(&other, 1).await), ["for everyone"]);

    // Replay honours the target: -2 for the other user still skips the admin's events.
    let replayed = org.subscribe(&other_token, "/u/Team", Some(-2)).await;
    assert_eq!(payloads(&org.events(&replayed, 1).await), ["for everyone"]);
    let replayed = org.subscribe(&admin_token, "/u/Team", Some(-2)).await;
    assert_eq!(
        payloads(&org.events(&replayed, 2).await),
        ["for the admin", "for everyone"]
    );
}

#[tokio::test]
async fn bad_pushes_get_salesforce_errors_and_store_nothing() {
    let org = start(OrgConfig::default()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    let channel_id = org
        .create(&token, "StreamingChannel", json!({"Name": "/u/Strict"}))
        .await;
    let too_long = "x".repeat(3_001);
    let too_many: Vec<String> = (0..1_001)
        .map(|_| "005000000000001AAA".to_owned())
        .collect();
    for (events, code) in [
        (
            json!([{"payload": "x", "userIds": too_many}]),
            "LIMIT_EXCEEDED",
        ),
        // 18 bytes, not 18 characters: a malformed id, not a panic.
        (
            json!([{"payload": "x", "userIds": ["a€€€€€aa"]}]),
            "MALFORMED_ID",
        ),
        (json!([{"payload": too_long}]), "STRING_TOO_LONG"),
        (json!([{"payload": 5}]), "JSON_PARSER_ERROR"),
        (
            json!([{"payload": "x", "userIds": ["not an id"]}]),
            "MALFORMED_ID",
        ),
        (json!([]), "INVALID_FIELD"),
    ] {
        let (status, body) = push(&org, &token, &channel_id, events).await;
        assert_eq!(
            (status, body[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let (status, _) = push(
        &org,
        &token,
        "0M6000000000000AAA",
        json!([{"payload": "x"}]),
    )
    .await;
    assert_eq!(status, 404);
    // Nothing was stored: a replay of everything finds only the one good push below.
    let (status, _) = push(
        &org,
        &token,
        &channel_id,
        json!([{"payload": "ok", "userIds": []}]),
    )
    .await;
    assert_eq!(status, 200);
    let session = org.subscribe(&token, "/u/Strict", Some(-2)).await;
    let events = org.events(&session, 1).await;
    assert_eq!(events[0]["data"]["payload"], "ok");
}

#[tokio::test]
async fn dynamic_channels_are_created_by_subscribing_within_the_allocation() {
    let org = start(OrgConfig {
        dynamic_channels: true,
        max_streaming_channels: Some(2),
        ..OrgConfig::default()
    })
    .await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    org.create(&token, "StreamingChannel", json!({"Name": "/u/First"}))
        .await;
    let session = org.subscribe(&token, "/u/made/OnTheFly", None).await;
    // The record is written in the background; jsforce-style lookup finds it.
    let mut found = Value::Null;
    for _ in 0..50 {
        let body = org
            .query(
                &token,
                "SELECT Id, IsDynamic FROM StreamingChannel WHERE Name='/u/made/OnTheFly'",
            )
            .await;
        if body["totalSize"] == 1 {
            found = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(found["records"][0]["IsDynamic"], true, "{found}");
    let id = found["records"][0]["Id"].as_str().unwrap();
    let (status, _) = push(&org, &token, id, json!([{"payload": "hi", "userIds": []}])).await;
    assert_eq!(status, 200);
    assert_eq!(org.events(&session, 1).await[0]["data"]["payload"], "hi");

    // The allocation (2) is used up: no third channel, dynamic or not.
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"].clone();
    let reply = org
        .bayeux(
            Some(&auth),
            json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/u/Third"}]),
        )
        .await
        .remove(0);
    assert_eq!(
        reply["error"],
        "403::Unable to create channel dynamically, maximum channel limit has been exceeded"
    );
    let (status, body) = org
        .rest(
            &token,
            Method::POST,
            "sobjects/StreamingChannel",
            Some(json!({"Name": "/u/Third"})),
        )
        .await;
    assert_eq!(
        (status, &body[0]["errorCode"]),
        (400, &json!("LIMIT_EXCEEDED"))
    );
}
