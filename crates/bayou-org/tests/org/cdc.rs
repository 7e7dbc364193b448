//! Change Data Capture: change events for selected objects on `/data/ChangeEvents` and the
//! object's channel, in Salesforce's shape, with one transaction per REST request.

use bayou_org::OrgConfig;
use reqwest::Method;
use serde_json::{json, Value};

use bayou_testkit::{start, OTHER_PASSWORD, OTHER_USER, PASSWORD, USER};

fn account_cdc() -> OrgConfig {
    OrgConfig {
        cdc_entities: vec!["Account".into()],
        ..OrgConfig::default()
    }
}

fn header(event: &Value) -> &Value {
    &event["data"]["payload"]["ChangeEventHeader"]
}

#[tokio::test]
async fn every_change_of_a_selected_object_publishes_a_change_event() {
    let org = start(account_cdc()).await;
    let (token, user) = org.token_and_user_id(USER, PASSWORD).await;
    let all = org.subscribe(&token, "/data/ChangeEvents", None).await;
    let accounts = org
        .subscribe(&token, "/data/AccountChangeEvent", None)
        .await;

    // A Contact is not selected: it publishes nothing, so the first event is the Account's.
    org.create(&token, "Contact", json!({"LastName": "Nobody"}))
        .await;
    let id = org
        .create(
            &token,
            "Account",
            json!({"Name": "Acme", "Industry": null, "Phone": "555"}),
        )
        .await;
    org.update(&token, "Account", &id, json!({"Industry": "Energy"}))
        .await;
    org.delete(&token, "Account", &id).await;
    org.undelete(&token, "Account", &id).await;

    let events = org.events(&all, 4).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| header(e)["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["CREATE", "UPDATE", "DELETE", "UNDELETE"]);
    for event in &events {
        assert_eq!(event["channel"], "/data/ChangeEvents");
        let h = header(event);
        assert_eq!(h["entityName"], "Account");
        assert_eq!(h["recordIds"], json!([id]));
        assert_eq!(h["commitUser"], user.as_str());
        assert_eq!(h["sequenceNumber"], 1); // one change per request
        assert!(h["changeOrigin"]
            .as_str()
            .unwrap()
            .starts_with("com/salesforce/api/rest/66.0"));
        assert_eq!(h["transactionKey"].as_str().unwrap().len(), 36);
        assert!(h["commitTimestamp"].as_i64().unwrap() > 1_700_000_000_000);
        assert!(h.get("nulledFields").is_none());
        assert_eq!(event["data"]["schema"].as_str().unwrap().len(), 22);
        assert!(event["data"]["event"]["replayId"].as_u64().is_some());
        assert!(event["data"]["event"].get("createdDate").is_none());
    }
    let commit_numbers: Vec<u64> = events
        .iter()
        .map(|e| header(e)["commitNumber"].as_u64().unwrap())
        .collect();
    assert!(
        commit_numbers.windows(2).all(|w| w[0] < w[1]),
        "{commit_numbers:?}"
    );
    let keys: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| header(e)["transactionKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 4, "one transaction per request");

    let created = &events[0]["data"]["payload"];
    assert_eq!(created["Name"], "Acme");
    assert_eq!(created["Phone"], "555");
    assert!(
        created.get("Industry").is_none(),
        "empty fields are left out of a CREATE"
    );
    assert!(created.get("Id").is_none() && created.get("SystemModstamp").is_none());
    assert_eq!(created["CreatedById"], user.as_str());
    assert_eq!(header(&events[0])["changedFields"], json!([]));

    let updated = &events[1]["data"]["payload"];
    assert_eq!(
        header(&events[1])["changedFields"],
        json!(["Industry", "LastModifiedDate"])
    );
    assert_eq!(updated["Industry"], "Energy");
    assert!(updated.get("Name").is_none());

    let deleted = events[2]["data"]["payload"].as_object().unwrap();
    assert_eq!(deleted.keys().collect::<Vec<_>>(), ["ChangeEventHeader"]);
    assert_eq!(events[3]["data"]["payload"]["Industry"], "Energy");

    // The object's own channel carries the same changes.
    let own = org.events(&accounts, 4).await;
    assert!(own
        .iter()
        .all(|e| e["channel"] == "/data/AccountChangeEvent"));
    assert_eq!(header(&own[1]), header(&events[1]));

    // Replay: -2 brings the history back.
    let replayed = org
        .subscribe(&token, "/data/AccountChangeEvent", Some(-2))
        .await;
    let again = org.events(&replayed, 4).await;
    assert_eq!(
        again
            .iter()
            .map(|e| e["data"]["event"]["replayId"].clone())
            .collect::<Vec<_>>(),
        own.iter()
            .map(|e| e["data"]["event"]["replayId"].clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_composite_request_is_one_transaction() {
    let org = start(account_cdc()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    let session = org.subscribe(&token, "/data/ChangeEvents", None).await;
    let (status, body) = org
        .rest(
            &token,
            Method::POST,
            "composite",
            Some(json!({"compositeRequest": [
                {"method": "POST", "url": "/services/data/v66.0/sobjects/Account", "referenceId": "a", "body": {"Name": "One"}},
                {"method": "POST", "url": "/services/data/v66.0/sobjects/Account", "referenceId": "b", "body": {"Name": "Two"}}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = org.events(&session, 2).await;
    assert_eq!(
        header(&events[0])["transactionKey"],
        header(&events[1])["transactionKey"]
    );
    assert_eq!(header(&events[0])["sequenceNumber"], 1);
    assert_eq!(header(&events[1])["sequenceNumber"], 2);
}

#[tokio::test]
async fn objects_are_selected_at_run_time_through_the_admin_api() {
    let org = start(OrgConfig::default()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    let session = org.subscribe(&token, "/data/ChangeEvents", None).await;
    org.create(&token, "Invoice__c", json!({"Name": "before"}))
        .await;
    let (status, body) = org
        .admin_call("cdc", json!({"entity": "invoice__c", "enabled": true}))
        .await;
    assert_eq!((status, &body["entities"]), (200, &json!(["invoice__c"])));
    let custom = org
        .subscribe(&token, "/data/Invoice__ChangeEvent", None)
        .await;
    org.create(&token, "Invoice__c", json!({"Name": "after"}))
        .await;
    let events = org.events(&session, 1).await;
    assert_eq!(events[0]["data"]["payload"]["Name"], "after");
    assert_eq!(header(&events[0])["entityName"], "Invoice__c");
    assert_eq!(
        org.events(&custom, 1).await[0]["channel"],
        "/data/Invoice__ChangeEvent"
    );

    let (status, body) = org.admin_call("cdc", json!({"entity": "Nope"})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn unknown_change_event_channels_do_not_exist() {
    let org = start(account_cdc()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    let auth = format!("Bearer {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"].clone();
    let reply = org
        .bayeux(Some(&auth), json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":"/data/Bogus"}]))
        .await
        .remove(0);
    assert_eq!(reply["successful"], false);
    assert_eq!(
        reply["error"],
        "400::The channel you requested to subscribe to doesn’t exist /data/Bogus"
    );
}

#[tokio::test]
async fn an_update_by_another_user_reports_last_modified_by_id_and_null_on_empty_is_no_change() {
    let org = start(account_cdc()).await;
    let (token, _) = org.token_and_user_id(USER, PASSWORD).await;
    let (other_token, other_id) = org.token_and_user_id(OTHER_USER, OTHER_PASSWORD).await;
    let session = org
        .subscribe(&token, "/data/AccountChangeEvent", None)
        .await;
    let id = org
        .create(&token, "Account", json!({"Name": "Shared"}))
        .await;
    org.update(
        &other_token,
        "Account",
        &id,
        json!({"Phone": "555", "Industry": null}),
    )
    .await;
    let events = org.events(&session, 2).await;
    let update = &events[1];
    assert_eq!(
        header(update)["changedFields"],
        json!(["Phone", "LastModifiedDate", "LastModifiedById"]),
        "Industry was empty: setting it to null changes nothing"
    );
    assert_eq!(
        update["data"]["payload"]["LastModifiedById"],
        other_id.as_str()
    );
    assert_eq!(header(update)["commitUser"], other_id.as_str());
    assert!(update["data"]["payload"].get("Industry").is_none());
}
