//! Query results larger than a batch come a batch at a time, as Salesforce pages them:
//! `done: false` and a `nextRecordsUrl` until the last batch.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou, OTHER_PASSWORD, OTHER_USER};

/// `GET path` (a query or a `nextRecordsUrl`) with a batch size; status and body.
async fn get(org: &Bayou, token: &str, path: &str, batch: usize) -> (u16, Value) {
    let options = format!("batchSize={batch}");
    org.get_as(token, path, &[("Sforce-Query-Options", &options)])
        .await
}

#[tokio::test]
async fn large_results_come_in_batches_with_next_records_urls() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    for i in 0..450 {
        org.create(&token, "Contact", json!({"LastName": format!("C{i:03}")}))
            .await;
    }
    let soql = "SELECT Id, LastName FROM Contact ORDER BY LastName DESC";
    let path = format!(
        "/services/data/v66.0/query?q={}",
        soql.replace(' ', "+").replace(',', "%2C")
    );
    let mut names = Vec::new();
    let mut next = Some(path);
    let mut batches = Vec::new();
    while let Some(path) = next {
        let (status, body) = get(&org, &token, &path, 200).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalSize"], 450);
        let records = body["records"].as_array().unwrap();
        batches.push(records.len());
        names.extend(
            records
                .iter()
                .map(|r| r["LastName"].as_str().unwrap().to_owned()),
        );
        next = body["nextRecordsUrl"].as_str().map(str::to_owned);
        assert_eq!(body["done"], next.is_none(), "{body}");
    }
    assert_eq!(batches, vec![200, 200, 50]);
    let expected: Vec<String> = (0..450).rev().map(|i| format!("C{i:03}")).collect();
    assert_eq!(
        names, expected,
        "every record once, in order across batches"
    );
}

#[tokio::test]
async fn a_cursor_is_its_users_and_a_bad_locator_is_salesforces_error() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    for i in 0..250 {
        org.create(&token, "Contact", json!({"LastName": format!("C{i}")}))
            .await;
    }
    let (_, first) = get(
        &org,
        &token,
        "/services/data/v66.0/query?q=SELECT+Id+FROM+Contact",
        200,
    )
    .await;
    assert_eq!(first["records"].as_array().unwrap().len(), 200);
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("/services/data/v66.0/query/01g") && next.ends_with("-200"),
        "{next}"
    );

    let (other, _) = org.token_and_user_id(OTHER_USER, OTHER_PASSWORD).await;
    let invalid = json!([
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR", "fields": []}
    ]);
    assert_eq!(get(&org, &other, &next, 200).await, (400, invalid.clone()));
    let bogus = "/services/data/v66.0/query/01gNOTACURSOR-200";
    assert_eq!(get(&org, &token, bogus, 200).await, (400, invalid));

    let (status, last) = get(&org, &token, &next, 200).await;
    assert_eq!((status, last["done"].clone()), (200, json!(true)));
    assert_eq!(last["records"].as_array().unwrap().len(), 50);
    // A finished cursor is gone.
    assert_eq!(get(&org, &token, &next, 200).await.0, 400);
}

#[tokio::test]
async fn small_results_are_one_batch() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    org.create(&token, "Contact", json!({"LastName": "Only"}))
        .await;
    let body = org.query(&token, "SELECT LastName FROM Contact").await;
    assert_eq!(body["done"], true);
    assert!(body.get("nextRecordsUrl").is_none(), "{body}");
    assert_eq!(body["records"][0]["LastName"], "Only");
}
