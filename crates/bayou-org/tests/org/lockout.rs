//! Repeated failed logins lock the username out, as Salesforce does, with the same answer as a
//! wrong password; other users go on logging in.

use std::time::Duration;

use bayou_org::OrgConfig;
use serde_json::json;

use bayou_testkit::{start, CLIENT, OTHER_PASSWORD, OTHER_USER, PASSWORD, SECRET, USER};

fn password_grant<'a>(username: &'a str, password: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("username", username),
        ("password", password),
    ]
}

#[tokio::test]
async fn ten_failures_lock_the_username_out() {
    let org = start(OrgConfig {
        login_lockout: Duration::from_secs(600),
        ..OrgConfig::default()
    })
    .await;
    for _ in 0..10 {
        let (status, body) = org.oauth_token(&password_grant(USER, "wrong")).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = org.oauth_token(&password_grant(USER, PASSWORD)).await;
    assert_eq!(
        status, 400,
        "the right password is refused while locked out"
    );
    assert_eq!(
        body,
        json!({"error":"invalid_grant","error_description":"authentication failure"})
    );
    let soap = format!(
        r#"<?xml version="1.0"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login><urn:username>{USER}</urn:username><urn:password>{PASSWORD}</urn:password></urn:login></env:Body></env:Envelope>"#
    );
    let reply = org
        .http
        .post(format!("{}/services/Soap/u/66.0", org.base))
        .header("content-type", "text/xml")
        .header("soapaction", "login")
        .body(soap)
        .send()
        .await
        .unwrap();
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("INVALID_LOGIN"),
        "SOAP login is locked out too: {text}"
    );
    let (status, _) = org
        .oauth_token(&password_grant(OTHER_USER, OTHER_PASSWORD))
        .await;
    assert_eq!(status, 200, "other users are not locked out");
}

#[tokio::test]
async fn fewer_failures_do_not_lock_and_a_success_clears_them() {
    let org = start(OrgConfig::default()).await;
    for _ in 0..9 {
        assert_eq!(org.oauth_token(&password_grant(USER, "wrong")).await.0, 400);
    }
    assert_eq!(
        org.oauth_token(&password_grant(USER, PASSWORD)).await.0,
        200
    );
    for _ in 0..9 {
        assert_eq!(org.oauth_token(&password_grant(USER, "wrong")).await.0, 400);
    }
    assert_eq!(
        org.oauth_token(&password_grant(USER, PASSWORD)).await.0,
        200
    );
}
