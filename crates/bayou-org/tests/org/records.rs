//! sObject REST and PushTopics: records created, changed and deleted over REST, and the
//! `/topic/<Name>` events a streaming client receives for them, with Salesforce's rules and
//! error shapes.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Session};

fn topic(name: &str, query: &str) -> Value {
    json!({"Name": name, "Query": query, "ApiVersion": 66.0, "NotifyForOperationCreate": true,
           "NotifyForOperationUpdate": true, "NotifyForOperationDelete": true, "NotifyForFields": "Referenced"})
}

#[tokio::test]
async fn records_round_trip_over_rest() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let id = org
        .create(
            &token,
            "Account",
            json!({"Name": "Express Logistics and Transport", "Industry": "Transportation"}),
        )
        .await;
    assert!(id.starts_with("001") && id.len() == 18, "{id}");

    let record = org.get(&token, "Account", &id).await;
    assert_eq!(
        record["attributes"],
        json!({"type": "Account", "url": format!("/services/data/v66.0/sobjects/Account/{id}")})
    );
    assert_eq!(record["Name"], "Express Logistics and Transport");
    assert!(record["CreatedDate"].as_str().unwrap().ends_with('Z'));

    // The 15-character form finds it too.
    org.get(&token, "Account", &id[..15]).await;

    org.update(&token, "account", &id, json!({"Industry": "Energy"}))
        .await;
    let found = org
        .query(
            &token,
            "SELECT Id, Name FROM Account WHERE Industry = 'energy'",
        )
        .await;
    assert_eq!(found["totalSize"], 1, "{found}");
    assert_eq!(
        found["records"][0]["Name"],
        "Express Logistics and Transport"
    );
    assert!(
        found["records"][0].get("Industry").is_none(),
        "only selected fields"
    );

    org.delete(&token, "Account", &id).await;
    let (status, body) = org
        .rest(
            &token,
            reqwest::Method::GET,
            &format!("sobjects/Account/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (404, Some("ENTITY_IS_DELETED"))
    );
}

#[tokio::test]
async fn bad_rest_input_gets_salesforce_errors() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let cases = [
        (
            "sobjects/Account",
            json!({"Id": "001xx", "Name": "x"}),
            400,
            "INVALID_FIELD",
            "The Id field should not be specified in the sobject data.",
        ),
        (
            "sobjects/Nope",
            json!({"Name": "x"}),
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        ),
        (
            "sobjects/Account",
            json!({"Name": {"nested": 1}}),
            400,
            "JSON_PARSER_ERROR",
            "",
        ),
        (
            "sobjects/Account",
            json!({"bad-field": 1}),
            400,
            "INVALID_FIELD",
            "",
        ),
        (
            "sobjects/Account",
            json!({"CreatedDate": "2020-01-01"}),
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "",
        ),
    ];
    for (path, body, status, code, message) in cases {
        let (got, reply) = org
            .rest(&token, reqwest::Method::POST, path, Some(body))
            .await;
        assert_eq!(got, status, "{reply}");
        assert_eq!(reply[0]["errorCode"], code, "{reply}");
        if !message.is_empty() {
            assert_eq!(reply[0]["message"], message);
        }
    }
    let (status, reply) = org
        .rest(
            &token,
            reqwest::Method::GET,
            "sobjects/Account/001notanid",
            None,
        )
        .await;
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = org
        .rest(
            &token,
            reqwest::Method::GET,
            "query?q=SELECT+Id+FORM+Account",
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(reply[0]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn pushtopic_queries_are_validated_with_salesforces_texts() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let post = |body: Value| {
        let org = &org;
        let token = token.clone();
        async move {
            org.rest(
                &token,
                reqwest::Method::POST,
                "sobjects/PushTopic",
                Some(body),
            )
            .await
        }
    };
    let (status, reply) = post(topic("Limited", "SELECT Id FROM Account LIMIT 5")).await;
    assert_eq!(status, 400);
    assert_eq!(reply[0]["errorCode"], "INVALID_FIELD");
    assert!(
        reply[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("INVALID_FIELD, 'LIMIT' is not allowed at line 1 column 24"),
        "the code once, then Salesforce's text and where: {reply}"
    );
    assert_eq!(reply[0]["fields"], json!(["Query"]));

    let (_, reply) = post(topic("Related", "SELECT Id, Account.Name FROM Contact")).await;
    assert!(
        reply[0]["message"]
            .as_str()
            .unwrap()
            .contains("relationships are not supported"),
        "{reply}"
    );

    let (_, reply) = post(json!({"Name": "NoVersion", "Query": "SELECT Id FROM Account"})).await;
    assert_eq!(reply[0]["errorCode"], "REQUIRED_FIELD_MISSING");

    let (_, reply) = post(topic(
        "ThisNameIsLongerThan25Chars",
        "SELECT Id FROM Account",
    ))
    .await;
    assert_eq!(reply[0]["errorCode"], "STRING_TOO_LONG");

    let (status, _) = post(topic("Accounts", "SELECT Id FROM Account")).await;
    assert_eq!(status, 201);
    let (status, reply) = post(topic("Accounts", "SELECT Id, Name FROM Account")).await;
    assert_eq!(status, 400);
    assert_eq!(reply[0]["errorCode"], "DUPLICATE_VALUE");
}

#[tokio::test]
async fn record_changes_reach_pushtopic_subscribers_by_salesforces_rules() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        topic(
            "EnergyAccounts",
            "SELECT Id, Name, Industry FROM Account WHERE Industry = 'Energy'",
        ),
    )
    .await;
    let session = org.subscribe(&token, "/topic/EnergyAccounts", None).await;

    let other = org
        .create(
            &token,
            "Account",
            json!({"Name": "Not energy", "Industry": "Retail"}),
        )
        .await;
    let id = org
        .create(
            &token,
            "Account",
            json!({"Name": "Solar Co", "Industry": "Energy", "Phone": "555"}),
        )
        .await;
    // Phone is neither selected nor in WHERE: with NotifyForFields=Referenced, no event.
    org.update(&token, "Account", &id, json!({"Phone": "556"}))
        .await;
    org.update(&token, "Account", &id, json!({"Name": "Solar Company"}))
        .await;
    org.update(&token, "Account", &other, json!({"Name": "Still retail"}))
        .await;
    org.delete(&token, "Account", &id).await;

    let events = org.events(&session, 3).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted"], "{events:?}");
    assert_eq!(events[0]["channel"], "/topic/EnergyAccounts");
    assert_eq!(
        events[0]["data"]["sobject"],
        json!({"Id": id, "Name": "Solar Co", "Industry": "Energy"})
    );
    assert_eq!(events[1]["data"]["sobject"]["Name"], "Solar Company");
    assert_eq!(
        events[2]["data"]["sobject"],
        json!({"Id": id}),
        "a delete carries only the Id"
    );
    let created = events[0]["data"]["event"]["createdDate"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    let ids: Vec<u64> = events
        .iter()
        .map(|e| e["data"]["event"]["replayId"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // The history is durable: a new subscriber replays it with -2.
    let late = org
        .subscribe(&token, "/topic/EnergyAccounts", Some(-2))
        .await;
    let replayed = org.events(&late, 3).await;
    assert_eq!(
        replayed
            .iter()
            .map(|e| e["data"]["event"]["replayId"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
}

#[tokio::test]
async fn notify_flags_and_fields_are_honoured() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let mut quiet = topic("OnlyDeletes", "SELECT Id, Name FROM Lead");
    quiet["NotifyForOperationCreate"] = json!(false);
    quiet["NotifyForOperationUpdate"] = json!(false);
    org.create(&token, "PushTopic", quiet).await;
    let mut all = topic("AnyLeadChange", "SELECT Id FROM Lead");
    all["NotifyForFields"] = json!("All");
    org.create(&token, "PushTopic", all).await;
    let deletes = org.subscribe(&token, "/topic/OnlyDeletes", None).await;
    let any = org.subscribe(&token, "/topic/AnyLeadChange", None).await;

    let id = org
        .create(&token, "Lead", json!({"Name": "Ada", "Company": "Engines"}))
        .await;
    org.update(
        &token,
        "Lead",
        &id,
        json!({"Company": "Analytical Engines"}),
    )
    .await;
    org.delete(&token, "Lead", &id).await;

    let seen = org.events(&deletes, 1).await;
    assert_eq!(seen[0]["data"]["event"]["type"], "deleted");
    let seen = org.events(&any, 3).await;
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| e["data"]["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted"]);
}

#[tokio::test]
async fn topics_must_exist_and_salesforce_channels_take_no_bayeux_publishes() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = org
        .bayeux(
            Some(&auth),
            json!([
                {"channel":"/meta/subscribe","clientId":client_id,"subscription":"/topic/Missing"},
                {"channel":"/topic/Missing","clientId":client_id,"data":{"x":1}},
                {"channel":"/event/Low_Ink__e","clientId":client_id,"data":{"x":1}},
                {"channel":"/chat/room","clientId":client_id,"data":{"x":1}}
            ]),
        )
        .await;
    assert_eq!(
        replies[0]["error"],
        "400::The channel you requested to subscribe to doesn\u{2019}t exist /topic/Missing"
    );
    assert_eq!(replies[0]["subscription"], "/topic/Missing");
    assert_eq!(
        replies[1]["error"],
        "403::Publish denied on channel /topic/Missing"
    );
    assert_eq!(
        replies[2]["error"],
        "403::Publish denied on channel /event/Low_Ink__e"
    );
    assert_eq!(
        replies[3]["successful"], true,
        "other channels stay open to Bayeux publishes"
    );

    org.create(&token, "PushTopic", topic("Now", "SELECT Id FROM Case"))
        .await;
    let replies = org
        .bayeux(
            Some(&auth),
            json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/topic/Now"}]),
        )
        .await;
    assert_eq!(replies[0]["successful"], true);
}

#[tokio::test]
async fn short_ids_address_the_same_record_and_undelete_notifies() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let mut every_op = topic("CaseChanges", "SELECT Id, Subject FROM Case");
    every_op["NotifyForFields"] = json!("All");
    org.create(&token, "PushTopic", every_op).await;
    let session = org.subscribe(&token, "/topic/CaseChanges", None).await;

    let id = org
        .create(&token, "Case", json!({"Subject": "Printer on fire"}))
        .await;
    let short = &id[..15];
    org.update(&token, "Case", short, json!({"Subject": "Printer out"}))
        .await;
    let found = org.query(&token, "SELECT Id, Subject FROM Case").await;
    assert_eq!(found["totalSize"], 1, "one record, not two: {found}");
    assert_eq!(found["records"][0]["Subject"], "Printer out");

    org.delete(&token, "Case", short).await;
    org.undelete(&token, "Case", &id).await;
    let (status, reply) = org
        .rest(
            &token,
            reqwest::Method::POST,
            &format!("sobjects/Case/{id}/undelete"),
            None,
        )
        .await;
    assert_eq!(
        (status, reply[0]["errorCode"].as_str()),
        (400, Some("UNDELETE_FAILED"))
    );
    let (status, record) = org
        .rest(
            &token,
            reqwest::Method::GET,
            &format!("sobjects/Case/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, record["Subject"].as_str()),
        (200, Some("Printer out"))
    );

    let events = org.events(&session, 4).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted", "undeleted"]);
    assert_eq!(
        events[3]["data"]["sobject"],
        json!({"Id": id, "Subject": "Printer out"})
    );
}

#[tokio::test]
async fn pushtopic_defaults_are_stored_and_replies_keep_salesforces_field_order() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let (status, body) = org
        .rest(&token, reqwest::Method::POST, "sobjects/PushTopic", Some(json!({"Name": "Minimal", "Query": "SELECT Id, Name FROM Account", "ApiVersion": 50})))
        .await;
    assert_eq!(status, 201);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "success", "errors"]);
    let id = body["id"].as_str().unwrap();
    let record = org.get(&token, "PushTopic", id).await;
    assert_eq!(
        record.as_object().unwrap().keys().next().unwrap(),
        "attributes"
    );
    assert_eq!(record["IsActive"], true);
    assert_eq!(record["NotifyForFields"], "Referenced");
    for op in ["Create", "Update", "Delete", "Undelete"] {
        assert_eq!(record[format!("NotifyForOperation{op}")], true);
    }
}

#[tokio::test]
async fn filtered_subscriptions_deliver_matches_under_their_own_channel() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        topic("Energy", "SELECT Id, Name, Industry, City__c FROM Account"),
    )
    .await;
    let filtered_name = "/topic/Energy?Industry='Energy'&City__c='Paris'";
    let filtered = org.subscribe(&token, filtered_name, None).await;
    let everything = org.subscribe(&token, "/topic/Energy", None).await;

    org.create(
        &token,
        "Account",
        json!({"Name": "A", "Industry": "Energy", "City__c": "Berlin"}),
    )
    .await;
    org.create(
        &token,
        "Account",
        json!({"Name": "B", "Industry": "Retail", "City__c": "Rome"}),
    )
    .await;
    org.create(
        &token,
        "Account",
        json!({"Name": "C", "Industry": "Retail", "City__c": "Paris"}),
    )
    .await;

    let all = org.events(&everything, 3).await;
    assert!(all.iter().all(|e| e["channel"] == "/topic/Energy"));
    let matched = org.events(&filtered, 2).await;
    let names: Vec<&str> = matched
        .iter()
        .map(|e| e["data"]["sobject"]["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["A", "C"], "& means OR");
    assert!(
        matched.iter().all(|e| e["channel"] == filtered_name),
        "{matched:?}"
    );

    // Replay through a filter, with the replay map keyed by the bare channel (EMP-Connector).
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = org
        .bayeux(Some(&auth), json!([
            {"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling"},
            {"channel":"/meta/subscribe","clientId":client_id,"subscription":"/topic/Energy?Name='B'","ext":{"replay":{"/topic/Energy":-2}}},
            {"channel":"/meta/subscribe","clientId":client_id,"subscription":"/topic/Energy?Phone='1'"},
            {"channel":"/meta/subscribe","clientId":client_id,"subscription":"/chat/room?Name='x'"}
        ]))
        .await;
    assert_eq!(replies[1]["successful"], true, "{replies:?}");
    assert_eq!(
        replies[2]["error"],
        "400::Query fields {Phone} do not exist on the topic entity"
    );
    assert!(replies[3]["error"]
        .as_str()
        .unwrap()
        .contains("only available on PushTopic channels"));
    let session = Session { auth, client_id };
    let replayed = org.events(&session, 1).await;
    assert_eq!(replayed[0]["data"]["sobject"]["Name"], "B");
    assert_eq!(replayed[0]["channel"], "/topic/Energy?Name='B'");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_refused() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    let id = org
        .create(
            &token,
            "Opportunity",
            json!({"Name": "Deal", "Amount": 1000, "IsWon": false}),
        )
        .await;
    let (status, reply) = org
        .rest(
            &token,
            reqwest::Method::PATCH,
            &format!("sobjects/Opportunity/{id}"),
            Some(json!({"Amount": "lots"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        reply,
        json!([{"message": "Amount: value not of required type: \"lots\"", "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD", "fields": ["Amount"]}])
    );
    let (status, _) = org
        .rest(
            &token,
            reqwest::Method::POST,
            "sobjects/Opportunity",
            Some(json!({"Name": "Other", "IsWon": "no"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = org
        .rest(
            &token,
            reqwest::Method::PATCH,
            &format!("sobjects/Opportunity/{id}"),
            Some(json!({"Amount": 2000, "IsWon": null})),
        )
        .await;
    assert_eq!(status, 204, "right types and nulls are fine");
}

#[tokio::test]
async fn publish_rules_change_what_bayeux_clients_may_publish() {
    let rules = vec![
        bayou_org::PublishRule {
            pattern: bayou_protocol::ChannelName::parse("/u/**").unwrap(),
            allow: true,
        },
        bayou_org::PublishRule {
            pattern: bayou_protocol::ChannelName::parse("/chat/**").unwrap(),
            allow: false,
        },
    ];
    let org = start(OrgConfig {
        publish_rules: rules,
        ..OrgConfig::default()
    })
    .await;
    let token = org.token().await;
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = org
        .bayeux(
            Some(&auth),
            json!([
                {"channel":"/u/notifications","clientId":client_id,"data":"hi"},
                {"channel":"/chat/room","clientId":client_id,"data":"hi"},
                {"channel":"/topic/X","clientId":client_id,"data":"hi"},
                {"channel":"/other","clientId":client_id,"data":"hi"}
            ]),
        )
        .await;
    let outcome: Vec<bool> = replies.iter().map(|r| r["successful"] == true).collect();
    assert_eq!(outcome, vec![true, false, false, true], "{replies:?}");
}

#[tokio::test]
async fn the_pushtopic_allocation_is_enforced() {
    let org = start(OrgConfig {
        max_push_topics: Some(1),
        ..OrgConfig::default()
    })
    .await;
    let token = org.token().await;
    org.create(
        &token,
        "PushTopic",
        topic("First", "SELECT Id FROM Account"),
    )
    .await;
    let (status, reply) = org
        .rest(
            &token,
            reqwest::Method::POST,
            "sobjects/PushTopic",
            Some(topic("Second", "SELECT Id FROM Account")),
        )
        .await;
    assert_eq!(
        (status, reply[0]["errorCode"].as_str()),
        (400, Some("LIMIT_EXCEEDED")),
        "{reply}"
    );
}
