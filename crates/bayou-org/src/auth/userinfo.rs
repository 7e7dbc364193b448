//! `GET`/`POST /services/oauth2/userinfo`: OpenID Connect's UserInfo endpoint, as Salesforce
//! answers it — who the token's user is, in which org, and where its APIs are.
//!
//! Clients call it right after getting a token: the Salesforce CLI's library
//! (`@salesforce/core`) builds an org from an access token with it, and the Pub/Sub API's
//! examples read `organization_id` from it for the `tenantid` header. A missing, unknown or
//! revoked token gets Salesforce's `403 Bad_OAuth_Token`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::records::identity_objects;
use crate::{bearer_token, Org};

pub async fn userinfo(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    query: Query<std::collections::HashMap<String, String>>,
) -> Response {
    let token = bearer_token(&headers).or_else(|| query.get("access_token").cloned());
    let user_id = match token {
        Some(token) => org.user_of_token_settled(&token).await,
        None => None,
    };
    let Some(user_id) = user_id else {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    };
    let Some(user) = identity_objects::record(&org, identity_objects::USER, &user_id) else {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    };
    Json(claims(&org.instance_url(&headers), org.org_id(), &user)).into_response()
}

/// The claims for `user` (its `User` record) of org `org_id`, with URLs under `base`.
fn claims(base: &str, org_id: &str, user: &serde_json::Map<String, Value>) -> Value {
    let text = |name: &str| user.get(name).cloned().unwrap_or(Value::Null);
    let user_id = user.get("Id").and_then(Value::as_str).unwrap_or_default();
    let version = bayou_protocol::errors::CURRENT_API_VERSION;
    let data = format!("{base}/services/data/v{version}");
    let soap = |kind: &str| format!("{base}/services/Soap/{kind}/{version}/{org_id}");
    json!({
        "sub": format!("{base}/id/{org_id}/{user_id}"),
        "user_id": user_id,
        "organization_id": org_id,
        "preferred_username": text("Username"),
        "nickname": text("CommunityNickname"),
        "name": text("Name"),
        "email": text("Email"),
        "email_verified": true,
        "given_name": text("FirstName"),
        "family_name": text("LastName"),
        "zoneinfo": "GMT",
        "photos": {"picture": null, "thumbnail": null},
        "profile": format!("{base}/{user_id}"),
        "picture": null,
        "address": {},
        "is_salesforce_integration_user": false,
        "urls": {
            "enterprise": soap("c"),
            "metadata": soap("m"),
            "partner": soap("u"),
            "rest": format!("{data}/"),
            "sobjects": format!("{data}/sobjects/"),
            "search": format!("{data}/search/"),
            "query": format!("{data}/query/"),
            "recent": format!("{data}/recent/"),
            "profile": format!("{base}/{user_id}"),
            "custom_domain": base,
        },
        "active": true,
        "user_type": "STANDARD",
        "language": text("LanguageLocaleKey"),
        "locale": text("LocaleSidKey"),
        "utcOffset": 0,
        "is_app_installed": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_name_the_user_and_the_org() {
        let user = json!({"Id": "005A", "Username": "dev@example.com", "Name": "Dev One",
            "FirstName": "Dev", "LastName": "One", "Email": "dev@example.com",
            "CommunityNickname": "dev", "LanguageLocaleKey": "en_US", "LocaleSidKey": "en_US"});
        let claims = claims("http://127.0.0.1:8080", "00DB", user.as_object().unwrap());
        assert_eq!(claims["sub"], "http://127.0.0.1:8080/id/00DB/005A");
        assert_eq!(claims["user_id"], "005A");
        assert_eq!(claims["organization_id"], "00DB");
        assert_eq!(claims["preferred_username"], "dev@example.com");
        assert_eq!(claims["given_name"], "Dev");
        assert_eq!(
            claims["urls"]["rest"],
            "http://127.0.0.1:8080/services/data/v66.0/"
        );
    }
}
