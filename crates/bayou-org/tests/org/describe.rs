//! What clients ask before anything else: who am I (`userinfo`, `User`, `Organization`) and what
//! objects and fields exist (the describes).

use bayou_org::OrgConfig;
use bayou_testkit::{start, PASSWORD, USER};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn userinfo_names_the_tokens_user_and_org() {
    let org = start(OrgConfig::default()).await;
    let (token, user_id) = org.token_and_user_id(USER, PASSWORD).await;
    let (status, info) = org.get_as(&token, "/services/oauth2/userinfo", &[]).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["user_id"], user_id.as_str());
    assert_eq!(info["preferred_username"], USER);
    let org_id = info["organization_id"].as_str().unwrap();
    assert!(org_id.starts_with("00D"), "{info}");
    assert_eq!(info["sub"], format!("{}/id/{org_id}/{user_id}", org.base));
    assert_eq!(
        info["urls"]["rest"],
        format!("{}/services/data/v66.0/", org.base)
    );

    // POST works as GET; a bad or revoked token gets Salesforce's 403.
    let posted = org
        .http
        .post(format!("{}/services/oauth2/userinfo", org.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    for bad in ["nonsense", ""] {
        let response = org
            .http
            .get(format!("{}/services/oauth2/userinfo", org.base))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
        assert_eq!(response.text().await.unwrap(), "Bad_OAuth_Token");
    }
    assert_eq!(org.revoke(&token).await, 200);
    let response = org
        .http
        .get(format!("{}/services/oauth2/userinfo", org.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn user_and_organization_read_by_id_and_by_soql_but_not_written() {
    let org = start(OrgConfig::default()).await;
    let (token, user_id) = org.token_and_user_id(USER, PASSWORD).await;
    let user = org.get(&token, "User", &user_id).await;
    assert_eq!(user["Username"], USER);
    assert_eq!(user["IsActive"], true);
    assert_eq!(user["attributes"]["type"], "User");
    // Salesforce accepts the 15-character form of an id too.
    let short = org.get(&token, "User", &user_id[..15]).await;
    assert_eq!(short["Id"], user_id.as_str());

    let users = org
        .query(
            &token,
            &format!("SELECT Id, Username FROM User WHERE Username = '{USER}'"),
        )
        .await;
    assert_eq!(users["totalSize"], 1, "{users}");
    assert_eq!(users["records"][0]["Id"], user_id.as_str());
    // The Salesforce CLI's library reads the org's edition this way.
    let orgs = org
        .query(
            &token,
            "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization",
        )
        .await;
    assert_eq!(orgs["totalSize"], 1, "{orgs}");
    let record = &orgs["records"][0];
    assert_eq!(record["IsSandbox"], false);
    assert_eq!(record["TrialExpirationDate"], Value::Null);
    assert_eq!(record["OrganizationType"], "Developer Edition");
    assert_eq!(record["attributes"]["type"], "Organization");

    let (status, refused) = org
        .rest(
            &token,
            Method::POST,
            "sobjects/Organization",
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused[0]["errorCode"], "INVALID_TYPE_FOR_OPERATION");
    assert_eq!(
        refused[0]["message"],
        "entity type cannot be inserted: Organization"
    );
    let (status, refused) = org
        .rest(
            &token,
            Method::PATCH,
            &format!("sobjects/User/{user_id}"),
            Some(json!({"Username": "x@example.com"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused[0]["message"], "entity type cannot be updated: User");
    let (status, _) = org
        .rest(
            &token,
            Method::DELETE,
            &format!("sobjects/User/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(org.get(&token, "User", &user_id).await["Username"], USER);
}

#[tokio::test]
async fn describes_list_every_object_and_its_fields() {
    let org = start(OrgConfig::default()).await;
    let token = org.token().await;
    org.create(
        &token,
        "Invoice__c",
        json!({"Name": "INV-1", "Amount__c": 12.5, "Paid__c": false}),
    )
    .await;

    let (status, global) = org
        .get_as(&token, "/services/data/v66.0/sobjects", &[])
        .await;
    assert_eq!(status, 200, "{global}");
    let names: Vec<&str> = global["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for expected in [
        "Account",
        "Contact",
        "PushTopic",
        "User",
        "Organization",
        "Invoice__c",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let account = global["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Account")
        .unwrap();
    assert_eq!(account["keyPrefix"], "001");
    assert_eq!(
        account["urls"]["describe"],
        "/services/data/v66.0/sobjects/Account/describe"
    );

    let (status, basic) = org
        .get_as(&token, "/services/data/v66.0/sobjects/Invoice__c", &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(basic["objectDescribe"]["custom"], true);
    assert_eq!(basic["recentItems"], json!([]));

    let (status, described) = org
        .get_as(
            &token,
            "/services/data/v66.0/sobjects/invoice__c/describe",
            &[],
        )
        .await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["name"], "Invoice__c");
    // Names are case-insensitive: the records are found whatever the spelling.
    let found = org.query(&token, "SELECT Name FROM invoice__C").await;
    assert_eq!(found["totalSize"], 1, "{found}");
    assert_eq!(found["records"][0]["attributes"]["type"], "Invoice__c");
    let fields = described["fields"].as_array().unwrap();
    let kind = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["type"].as_str().unwrap().to_owned())
    };
    assert_eq!(fields[0]["name"], "Id");
    assert_eq!(kind("Id").as_deref(), Some("id"));
    assert_eq!(kind("Name").as_deref(), Some("string"));
    assert_eq!(kind("Amount__c").as_deref(), Some("double"));
    assert_eq!(kind("Paid__c").as_deref(), Some("boolean"));
    assert_eq!(kind("CreatedDate").as_deref(), Some("datetime"));
    assert_eq!(kind("CreatedById").as_deref(), Some("reference"));

    let (status, user) = org
        .get_as(&token, "/services/data/v66.0/sobjects/User/describe", &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["createable"], false);
    assert!(user["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "Username"));

    let (status, missing) = org
        .get_as(&token, "/services/data/v66.0/sobjects/Nope/describe", &[])
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing[0]["errorCode"], "NOT_FOUND");
    let (status, _) = org
        .get_as("bad-token", "/services/data/v66.0/sobjects", &[])
        .await;
    assert_eq!(status, 401);
}
