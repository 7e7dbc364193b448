//! What an org user may reach over Bayeux: no subscription sees the whole org, and Salesforce's
//! namespaces stay closed to Bayeux publishes whatever their letter case.

use bayou_org::OrgConfig;
use serde_json::{json, Value};

use bayou_testkit::{start, Bayou};

async fn session(org: &Bayou) -> (String, String) {
    let auth = format!("Bearer {}", org.token().await);
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    (auth, client_id)
}

async fn subscribe(org: &Bayou, auth: &str, client_id: &str, pattern: &str) -> Value {
    let message =
        json!([{"channel":"/meta/subscribe","clientId":client_id,"subscription":pattern}]);
    org.bayeux(Some(auth), message).await.remove(0)
}

#[tokio::test]
async fn org_wide_subscriptions_are_restricted() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = session(&org).await;
    for pattern in ["/**", "/*", "/service/**", "/service/echo"] {
        let reply = subscribe(&org, &auth, &client_id, pattern).await;
        assert_eq!(reply["successful"], false, "{pattern}: {reply}");
        assert_eq!(reply["error"], "403::Restricted channel", "{pattern}");
        assert_eq!(reply["subscription"], pattern);
    }
    for pattern in ["/chat/**", "/event/*"] {
        let reply = subscribe(&org, &auth, &client_id, pattern).await;
        assert_eq!(reply["successful"], true, "{pattern}: {reply}");
    }
}

#[tokio::test]
async fn plain_bayeux_with_anonymous_may_subscribe_to_everything() {
    let org = start(OrgConfig {
        allow_anonymous: true,
        ..OrgConfig::default()
    })
    .await;
    let (auth, client_id) = session(&org).await;
    let reply = subscribe(&org, &auth, &client_id, "/**").await;
    assert_eq!(reply["successful"], true, "{reply}");
}

#[tokio::test]
async fn salesforce_namespaces_refuse_publishes_in_any_letter_case() {
    let org = start(OrgConfig::default()).await;
    let (auth, client_id) = session(&org).await;
    for channel in [
        "/Topic/X",
        "/U/notes",
        "/EVENT/Low_Ink__e",
        "/Data/ChangeEvents",
    ] {
        let publish = json!([{"channel":channel,"clientId":client_id,"data":{"x":1}}]);
        let reply = org.bayeux(Some(&auth), publish).await.remove(0);
        assert_eq!(
            reply["error"],
            format!("403::Publish denied on channel {channel}"),
            "{reply}"
        );
    }
}
