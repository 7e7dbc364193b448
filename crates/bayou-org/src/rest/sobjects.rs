//! `sobjects/{Type}` (create) and `sobjects/{Type}/{Id}` (get, update, delete), with
//! Salesforce's replies: `201 {"id","success":true,"errors":[]}` on create, `204` on update and
//! delete, the record with its `attributes` on get.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::errors::RestError;
use crate::records::{objects, Fields};
use crate::Org;

fn parse_body(body: &[u8]) -> Result<Fields, RestError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(RestError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object of fields",
        )),
        Err(e) => Err(RestError::bad_request("JSON_PARSER_ERROR", format!("{e}"))),
    }
}

/// `POST /services/data/vXX.X/sobjects/{Type}`
pub async fn create(
    State(org): State<Arc<Org>>,
    Path((_version, object)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match super::authorize(&org, &headers) {
        Ok(user) => user,
        Err(denied) => return denied,
    };
    let result = async {
        let fields = parse_body(&body)?;
        org.create_record(&object, fields, &user).await
    }
    .await;
    match result {
        Ok(id) => (
            StatusCode::CREATED,
            Json(json!({"id": id, "success": true, "errors": []})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn get(
    State(org): State<Arc<Org>>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers) {
        return denied;
    }
    let Some((object, _)) = objects::lookup(&object) else {
        return RestError::not_found().into_response();
    };
    match org.live_record(&object, &id) {
        Ok(fields) => Json(with_attributes(&version, &object, fields)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `PATCH /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn update(
    State(org): State<Arc<Org>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match super::authorize(&org, &headers) {
        Ok(user) => user,
        Err(denied) => return denied,
    };
    let result = async {
        let fields = parse_body(&body)?;
        org.update_record(&object, &id, fields, &user).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn delete(
    State(org): State<Arc<Org>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers) {
        return denied;
    }
    match org.delete_record(&object, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /services/data/vXX.X/sobjects/{Type}/{Id}/undelete` — a Bayou addition (Salesforce
/// undeletes through Apex or SOAP): restores a deleted record, which notifies PushTopics with
/// `undeleted`.
pub async fn undelete(
    State(org): State<Arc<Org>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers) {
        return denied;
    }
    match org.undelete_record(&object, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A record as the REST API shows it: `attributes` first, then its fields.
pub fn with_attributes(version: &str, object: &str, fields: Fields) -> Value {
    let id = fields
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")}),
    );
    out.extend(fields);
    Value::Object(out)
}
