//! Logging in to the emulated org over real HTTP, and streaming with the token: OAuth grants
//! and their errors, the identity URL, SOAP login, revocation, and what a streaming client sees
//! when its token is missing, wrong or revoked.

use serde_json::{json, Value};

use crate::support::{start, CLIENT, PASSWORD, SECRET, USER};
use bayou_org::OrgConfig;

#[tokio::test]
async fn password_login_reply_has_salesforces_shape() {
    let org = start(OrgConfig::default()).await;
    let body = org.password_login().await;
    let token = body["access_token"].as_str().unwrap();
    assert!(token.contains('!'));
    assert_eq!(body["instance_url"], org.base);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["issued_at"].as_str().unwrap().parse::<i64>().is_ok(),
        "issued_at is a string of millis"
    );
    assert!(!body["signature"].as_str().unwrap().is_empty());
    // jsforce reads the org and user ids from the last two segments of `id`.
    let id = body["id"].as_str().unwrap();
    let segments: Vec<&str> = id.rsplit('/').take(2).collect();
    assert!(
        segments[0].starts_with("005") && segments[1].starts_with("00D"),
        "{id}"
    );

    let who: Value = org
        .http
        .get(id)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["username"], USER);
    assert_eq!(who["user_id"], segments[0]);
    assert_eq!(who["organization_id"], segments[1]);
}

#[tokio::test]
async fn oauth_errors_are_salesforces() {
    let org = start(OrgConfig::default()).await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, &str, &str); 5] = [
        (
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("username", USER),
                ("password", "nope"),
            ],
            "invalid_grant",
            "authentication failure",
        ),
        (
            &[
                ("grant_type", "password"),
                ("client_id", "who"),
                ("username", USER),
                ("password", PASSWORD),
            ],
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", "bad"),
                ("username", USER),
                ("password", PASSWORD),
            ],
            "invalid_client",
            "invalid client credentials",
        ),
        (
            &[("grant_type", "magic"), ("client_id", CLIENT)],
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT),
                ("refresh_token", "stale"),
            ],
            "invalid_grant",
            "expired access/refresh token",
        ),
    ];
    for (form, error, description) in cases {
        let (status, body) = org.token(form).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
    }
}

#[tokio::test]
async fn client_credentials_and_refresh_grants() {
    let org = start(OrgConfig::default()).await;
    let (status, body) = org
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());

    let login = org.password_login().await;
    let refresh = login["refresh_token"].as_str().unwrap();
    let (status, body) = org
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["access_token"], login["access_token"]);
}

#[tokio::test]
async fn soap_login_returns_what_emp_connector_and_jsforce_read() {
    let org = start(OrgConfig::default()).await;
    let envelope = |user: &str, password: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>{user}</n1:username><n1:password>{password}</n1:password></n1:login></env:Body></env:Envelope>"#
        )
    };
    let response = org
        .http
        .post(format!("{}/services/Soap/u/44.0/", org.base))
        .header("content-type", "text/xml")
        .header("SOAPAction", "''")
        .body(envelope(USER, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains(&format!("<serverUrl>{}/services/Soap/u/44.0/00D", org.base)),
        "{xml}"
    );
    assert!(xml.contains("<passwordExpired>false</passwordExpired>"));
    let session = xml
        .split("<sessionId>")
        .nth(1)
        .unwrap()
        .split("</sessionId>")
        .next()
        .unwrap();
    assert_eq!(
        org.handshake(Some(session)).await["successful"],
        true,
        "EMP sends the bare session id"
    );

    let response = org
        .http
        .post(format!("{}/services/Soap/u/44.0", org.base))
        .body(envelope(USER, "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let xml = response.text().await.unwrap();
    assert!(xml.contains("<faultstring>INVALID_LOGIN: Invalid username, password, security token; or user locked out.</faultstring>"), "{xml}");
}

#[tokio::test]
async fn streaming_needs_a_live_token() {
    let org = start(OrgConfig::default()).await;
    let reply = org.handshake(None).await;
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Handshake denied");
    assert_eq!(
        reply["ext"]["sfdc"]["failureReason"],
        "401::Request requires authentication"
    );
    assert_eq!(reply["advice"]["reconnect"], "none");

    let reply = org.handshake(Some("Bearer not-a-token")).await;
    assert_eq!(
        reply["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
    assert_eq!(reply["ext"]["replay"], true);

    let token = org.password_login().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for header in [
        format!("Bearer {token}"),
        format!("OAuth {token}"),
        token.clone(),
    ] {
        assert_eq!(
            org.handshake(Some(&header)).await["successful"],
            true,
            "{header}"
        );
    }
}

#[tokio::test]
async fn a_revoked_token_ends_the_session_like_salesforce() {
    let org = start(OrgConfig::default()).await;
    let token = org.password_login().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = format!("OAuth {token}");
    let client_id = org.handshake(Some(&auth)).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let connect = json!([{"channel":"/meta/connect","clientId":client_id,"connectionType":"long-polling","advice":{"timeout":0}}]);
    assert_eq!(
        org.bayeux(Some(&auth), connect.clone()).await[0]["successful"],
        true
    );

    let revoked = org
        .http
        .post(format!("{}/services/oauth2/revoke", org.base))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);

    let reply = org.bayeux(Some(&auth), connect).await.remove(0);
    assert_eq!(reply["error"], "401::Authentication invalid");
    assert_eq!(reply["advice"], json!({"reconnect": "none", "interval": 0}));
    assert_eq!(reply["clientId"], client_id);

    let again = org.handshake(Some(&auth)).await;
    assert_eq!(again["error"], "403::Handshake denied");
    assert_eq!(
        again["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );

    let rest = org
        .http
        .get(format!("{}/services/data/v66.0/", org.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status().as_u16(), 401);
    assert_eq!(
        rest.json::<Value>().await.unwrap(),
        json!([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])
    );
}

#[tokio::test]
async fn anonymous_streaming_only_when_configured() {
    let org = start(OrgConfig {
        allow_anonymous: true,
        ..OrgConfig::default()
    })
    .await;
    assert_eq!(org.handshake(None).await["successful"], true);
    let versions: Value = org
        .http
        .get(format!("{}/services/data/", org.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions.as_array().unwrap().last().unwrap()["version"],
        "66.0"
    );
}
