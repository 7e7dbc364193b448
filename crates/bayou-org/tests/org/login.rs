//! Logging in to the emulated org over real HTTP, and streaming with the token: OAuth grants
//! and their errors, the identity URL, SOAP login, revocation, and what a streaming client sees
//! when its token is missing, wrong or revoked.

use serde_json::{json, Value};

use bayou_org::OrgConfig;
use bayou_testkit::{start, CLIENT, PASSWORD, SECRET, USER};

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
        let (status, body) = org.oauth_token(form).await;
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
        .oauth_token(&[
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
        .oauth_token(&[
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
async fn soap_login_reads_any_prefix_and_escaped_values_and_refuses_bad_bodies() {
    let org = start(OrgConfig::default()).await;
    let url = format!("{}/services/Soap/u/66.0", org.base);
    let post = |body: String| org.http.post(&url).body(body).send();
    // Default namespace, escaped username, CDATA password: still a login.
    let escaped_user = USER.replace('@', "&#64;");
    let body = format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><login xmlns="urn:partner.soap.sforce.com"><username>{escaped_user}</username><password><![CDATA[{PASSWORD}]]></password></login></s:Body></s:Envelope>"#
    );
    let response = post(body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let xml = response.text().await.unwrap();
    // Salesforce's element order, which clients that read by position depend on.
    let order = [
        "<metadataServerUrl>",
        "<passwordExpired>",
        "<sandbox>",
        "<serverUrl>",
        "<sessionId>",
        "<userId>",
        "<userInfo>",
        "<organizationId>",
        "<organizationName>",
        "<userEmail>",
        "<userFullName>",
        "<userId>",
        "<userName>",
    ];
    let mut at = 0;
    for tag in order {
        let found = xml[at..]
            .find(tag)
            .unwrap_or_else(|| panic!("{tag} after {at}: {xml}"));
        at += found + tag.len();
    }

    let malformed = post("<login><username>u</password></login>".into())
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 500);
    let xml = malformed.text().await.unwrap();
    assert!(
        xml.contains("<faultcode>soapenv:Client</faultcode>"),
        "{xml}"
    );

    let huge = format!(
        "<login><username>{USER}</username><password>{}</password></login>",
        "x".repeat(bayou_org::auth::soap::MAX_BODY_BYTES)
    );
    let response = post(huge).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(response.headers()["content-type"], "text/xml;charset=UTF-8");
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<faultstring>The request body is larger than 65536 bytes</faultstring>"),
        "{xml}"
    );

    // A chunked body (no Content-Length) that grows past the limit is refused the same way.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = org.base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /services/Soap/u/66.0 HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let chunk = format!("1000\r\n{}\r\n", " ".repeat(4096));
    let mut request = head.into_bytes();
    for _ in 0..20 {
        request.extend_from_slice(chunk.as_bytes());
    }
    // Read while writing: the server answers (and closes) before it has read everything.
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
    });
    let mut reply = vec![0; 12];
    let _ = read.read_exact(&mut reply).await;
    writer.abort();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
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

    assert_eq!(org.revoke(&token).await, 200);

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
