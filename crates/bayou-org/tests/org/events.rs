//! Platform events: types defined through the admin API, published over REST and composite,
//! delivered on `/event/<Name>__e` in Salesforce's shape.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou};

async fn post(org: &Bayou, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = org
        .http
        .post(format!("{}/services/data/v66.0/{path}", org.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Subscribes to `channel`, runs `publish`, and returns the first `count` events.
async fn events_on(
    org: &Bayou,
    token: &str,
    channel: &str,
    count: usize,
    publish: impl std::future::Future<Output = ()>,
) -> Vec<Value> {
    let session = org.subscribe(token, channel, None).await;
    publish.await;
    org.events(&session, count).await
}

async fn define_low_ink(org: &Bayou) {
    let (status, body) = org
        .admin_call("platform-events", json!({"name": "Low_Ink__e", "fields": {"Printer_Model__c": "text", "Ink_Percentage__c": "number"}}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn published_events_arrive_in_salesforces_shape() {
    let org = start(OrgConfig::default()).await;
    define_low_ink(&org).await;
    let token = org.token().await;
    let reply = std::sync::Mutex::new(Value::Null);
    let events = events_on(&org, &token, "/event/Low_Ink__e", 1, async {
        let (status, body) = post(
            &org,
            &token,
            "sobjects/Low_Ink__e",
            json!({"Printer_Model__c": "XZO-5", "Ink_Percentage__c": 0.2}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        *reply.lock().unwrap() = body;
    })
    .await;
    let reply = reply.into_inner().unwrap();
    assert_eq!(reply["success"], true);
    assert_eq!(reply["errors"][0]["statusCode"], "OPERATION_ENQUEUED");
    let uuid = reply["errors"][0]["message"].as_str().unwrap();
    let data = &events[0]["data"];
    assert_eq!(data["event"]["EventUuid"], uuid);
    assert!(data["event"]["replayId"].as_u64().unwrap() > 0);
    assert_eq!(data["schema"].as_str().unwrap().len(), 22);
    let payload = data["payload"].as_object().unwrap();
    assert!(payload["CreatedDate"].as_str().unwrap().ends_with('Z'));
    assert!(payload["CreatedById"].as_str().unwrap().starts_with("005"));
    assert_eq!(payload["Printer_Model__c"], "XZO-5");
    assert_eq!(payload["Ink_Percentage__c"], 0.2);
    assert!(
        data["event"].get("createdDate").is_none(),
        "platform events carry no event.createdDate"
    );
}

#[tokio::test]
async fn bad_publishes_get_salesforce_errors() {
    let org = start(OrgConfig::default()).await;
    define_low_ink(&org).await;
    let token = org.token().await;
    let (status, body) = post(
        &org,
        &token,
        "sobjects/Low_Ink__e",
        json!({"Color__c": "red"}),
    )
    .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    assert_eq!(
        body[0]["message"],
        "No such column 'Color__c' on sobject of type Low_Ink__e"
    );
    let (status, body) = post(
        &org,
        &token,
        "sobjects/Low_Ink__e",
        json!({"Ink_Percentage__c": "low"}),
    )
    .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_TYPE_ON_FIELD_IN_RECORD"))
    );
    let (status, _) = post(&org, &token, "sobjects/Unknown__e", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = org
        .admin_call("platform-events", json!({"name": "NoSuffix", "fields": {}}))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn composite_publishes_each_subrequest() {
    let org = start(OrgConfig::default()).await;
    define_low_ink(&org).await;
    let token = org.token().await;
    let result = std::sync::Mutex::new(Value::Null);
    let events = events_on(&org, &token, "/event/Low_Ink__e", 2, async {
        let body = json!({"allOrNone": false, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v58.0/sobjects/Low_Ink__e", "referenceId": "e1", "body": {"Printer_Model__c": "A"}},
            {"method": "POST", "url": "/services/data/v58.0/sobjects/Low_Ink__e", "referenceId": "e2", "body": {"Bogus__c": 1}},
            {"method": "POST", "url": "/services/data/v58.0/sobjects/Account", "referenceId": "acc", "body": {"Name": "Acme"}},
            {"method": "POST", "url": "/services/data/v58.0/sobjects/Low_Ink__e", "referenceId": "e3", "body": {"Printer_Model__c": "B"}}
        ]});
        let (status, reply) = post(&org, &token, "composite", body).await;
        assert_eq!(status, 200);
        *result.lock().unwrap() = reply;
    })
    .await;
    let result = result.into_inner().unwrap();
    let statuses: Vec<u64> = result["compositeResponse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["httpStatusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 400, 201, 201]);
    assert_eq!(result["compositeResponse"][1]["referenceId"], "e2");
    assert!(result["compositeResponse"][2]["httpHeaders"]["Location"]
        .as_str()
        .unwrap()
        .contains("/sobjects/Account/001"));
    let models: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["payload"]["Printer_Model__c"].as_str().unwrap())
        .collect();
    assert_eq!(models, vec!["A", "B"]);
}
