//! `POST /services/oauth2/token` (grant types `password`, `client_credentials`,
//! `refresh_token`), `POST /services/oauth2/revoke`, and the identity URL `GET /id/{org}/{user}`,
//! with Salesforce's reply shapes and error codes.
//!
//! Deviation: the password grant also returns a `refresh_token` (Salesforce only does for flows
//! with a browser), so that the refresh grant can be used and tested without one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::{bearer_token, ClientAddress, Org};

/// An OAuth error reply: HTTP 400 (401 for a bad client secret) with `error` and
/// `error_description`, as Salesforce sends them.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn invalid_grant() -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "authentication failure",
    )
}

pub async fn token(
    State(org): State<Arc<Org>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(params)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request must be application/x-www-form-urlencoded",
        );
    };
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(grant_type) = param("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        );
    };
    if !matches!(
        grant_type,
        "password" | "client_credentials" | "refresh_token"
    ) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type not supported",
        );
    }
    let Some(client_id) = param("client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    };
    let grant = check_grant(&org, grant_type, client_id, &param, address).await;
    let (user_id, with_refresh, parent) = match grant {
        Ok(grant) => grant,
        Err(refused) => return refused,
    };
    let refresh = match with_refresh {
        true => match org.tokens.issue_refresh(&user_id).await {
            Ok(refresh) => Some(refresh),
            Err(e) => return token_store_error(&e),
        },
        false => None,
    };
    let parent = refresh.as_deref().or(parent);
    match org.tokens.issue_access(&user_id, parent).await {
        Ok(access) => token_reply(&org, &headers, &user_id, access, refresh),
        Err(e) => token_store_error(&e),
    }
}

/// Who the grant is for, whether it also gets a refresh token, and the refresh token an access
/// token is issued from — or the error reply. Secrets are checked off the async workers, and
/// password logins are throttled (see `passwords.rs`).
#[allow(clippy::result_large_err)]
async fn check_grant<'a>(
    org: &Org,
    grant_type: &str,
    client_id: &str,
    param: &(dyn Fn(&str) -> Option<&'a str> + Sync),
    address: Option<IpAddr>,
) -> Result<(String, bool, Option<&'a str>), Response> {
    let app = org.identity().app(client_id).cloned();
    let Some(app) = app else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        ));
    };
    // The secret is optional for the password and refresh flows (Salesforce allows public
    // clients there) but checked whenever it is given.
    let secret = param("client_secret");
    let secret_ok = match secret {
        Some(secret) => org.passwords.verify(secret, Some(&app.secret_hash)).await,
        None => false,
    };
    if secret.is_some() && !secret_ok {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "invalid client credentials",
        ));
    }
    match grant_type {
        "password" => {
            let (Some(username), Some(password)) = (param("username"), param("password")) else {
                return Err(invalid_grant());
            };
            let user = org.identity().user_by_name(username).cloned();
            let hash = user.as_ref().map(|u| u.password_hash.as_str());
            let accepted = org.passwords.login(username, password, hash, address).await;
            match (accepted, user) {
                (true, Some(user)) => Ok((user.id, true, None)),
                _ => Err(invalid_grant()),
            }
        }
        "client_credentials" => {
            if !secret_ok {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "invalid client credentials",
                ));
            }
            Ok((app.run_as_user_id.clone(), false, None))
        }
        _ => {
            let Some(refresh_token) = param("refresh_token") else {
                return Err(invalid_grant());
            };
            let Some(user_id) = org.tokens.validate_refresh(refresh_token) else {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "expired access/refresh token",
                ));
            };
            Ok((user_id, false, Some(refresh_token)))
        }
    }
}

/// The token could not be stored: the client may try again.
fn token_store_error(error: &bayou_log::LogError) -> Response {
    tracing::error!(%error, "cannot store a token");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the token could not be stored; try again",
    )
}

fn token_reply(
    org: &Org,
    headers: &HeaderMap,
    user_id: &str,
    access_token: String,
    refresh_token: Option<String>,
) -> Response {
    let instance_url = org.instance_url(headers);
    let id = format!("{instance_url}/id/{}/{user_id}", org.org_id());
    let issued_at = bayou_protocol::time::now_millis().to_string();
    let signature = sign(&access_token, &format!("{id}{issued_at}"));
    let mut body = json!({
        "access_token": access_token,
        "instance_url": instance_url,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api web refresh_token",
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// Base64 HMAC-SHA256 of `id + issued_at`, as Salesforce computes `signature` (keyed here by
/// the token itself rather than the client secret, which Bayou does not keep in clear).
fn sign(key: &str, message: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `POST /services/oauth2/revoke` with `token=…` (form or query).
pub async fn revoke(
    State(org): State<Arc<Org>>,
    query: axum::extract::Query<HashMap<String, String>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let from_form = form.ok().and_then(|Form(p)| p.get("token").cloned());
    let token = from_form.or_else(|| query.get("token").cloned());
    let revoked = match &token {
        Some(token) => org.tokens.revoke(token).await,
        None => Ok(false),
    };
    match token {
        Some(_) if matches!(revoked, Ok(true)) => StatusCode::OK.into_response(),
        Some(_) if revoked.is_err() => oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the token could not be revoked; try again",
        ),
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            "this token type is not supported",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        ),
    }
}

/// `GET /id/{org}/{user}`: who the token belongs to.
pub async fn identity_url(
    State(org): State<Arc<Org>>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    query: axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let token = bearer_token(&headers).or_else(|| query.get("oauth_token").cloned());
    let owner = match token {
        Some(token) => org.user_of_token_settled(&token).await,
        None => None,
    };
    if owner.is_none() {
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    }
    let identity = org.identity();
    let user = match identity.user(&user_id) {
        Some(user) if org_id == org.org_id() && owner.as_deref() == Some(user.id.as_str()) => user,
        _ => return (StatusCode::NOT_FOUND, "Bad_Id").into_response(),
    };
    let base = org.instance_url(&headers);
    let version = bayou_protocol::errors::CURRENT_API_VERSION;
    Json(json!({
        "id": format!("{base}/id/{org_id}/{user_id}"),
        "asserted_user": true,
        "user_id": user.id,
        "organization_id": org.org_id(),
        "username": user.username,
        "nick_name": user.username.split('@').next().unwrap_or_default(),
        "display_name": user.display_name,
        "email": user.username,
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": format!("{base}/services/data/v{version}/"),
            "sobjects": format!("{base}/services/data/v{version}/sobjects/"),
            "query": format!("{base}/services/data/v{version}/query/"),
            "partner": format!("{base}/services/Soap/u/{version}/{}", org.org_id()),
        },
    }))
    .into_response()
}
