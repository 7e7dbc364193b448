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
use super::{as_user, as_user_on_record};
use crate::records::Fields;
use crate::transaction::Transaction;
use crate::Org;

/// The fields of a create or update body: a JSON object, or `JSON_PARSER_ERROR`.
///
/// Public only so that the `rest_json` fuzz target (`fuzz/`) can feed it any bytes.
pub fn parse_body(body: &[u8]) -> Result<Fields, RestError> {
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
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = &*org;
    as_user(org, &headers, |user| async move {
        let fields = parse_body(&body)?;
        if object.to_ascii_lowercase().ends_with("__e") {
            let published = org.publish_event(&object, fields, &user).await?;
            return Ok((StatusCode::CREATED, Json(event_reply(&published))).into_response());
        }
        let txn = Transaction::new(&user, &version);
        let id = org.create_record(&object, fields, &txn).await?;
        let reply = json!({"id": id, "success": true, "errors": []});
        Ok((StatusCode::CREATED, Json(reply)).into_response())
    })
    .await
}

/// `GET /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn get(
    State(org): State<Arc<Org>>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    as_user_on_record(&org, &headers, |_| async {
        let (object, _) = org.object(&object).ok_or_else(RestError::not_found)?;
        let fields = org.live_record(&object, &id).await?;
        Ok(Json(with_attributes(&version, &object, fields)).into_response())
    })
    .await
}

/// `PATCH /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn update(
    State(org): State<Arc<Org>>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = &*org;
    as_user(org, &headers, |user| async move {
        let txn = Transaction::new(&user, &version);
        org.update_record(&object, &id, parse_body(&body)?, &txn)
            .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `DELETE /services/data/vXX.X/sobjects/{Type}/{Id}`
pub async fn delete(
    State(org): State<Arc<Org>>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let org = &*org;
    as_user(org, &headers, |user| async move {
        let txn = Transaction::new(&user, &version);
        org.delete_record(&object, &id, &txn).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `POST /services/data/vXX.X/sobjects/{Type}/{Id}/undelete` — a Bayou addition (Salesforce
/// undeletes through Apex or SOAP): restores a deleted record, which notifies PushTopics with
/// `undeleted`.
pub async fn undelete(
    State(org): State<Arc<Org>>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let org = &*org;
    as_user(org, &headers, |user| async move {
        let txn = Transaction::new(&user, &version);
        org.undelete_record(&object, &id, &txn).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// The reply to a platform event publish: the id, and the `EventUuid` in an
/// `OPERATION_ENQUEUED` entry, as Salesforce replies.
pub fn event_reply(published: &crate::events::publish::Published) -> Value {
    json!({
        "id": published.id,
        "success": true,
        "errors": [{"statusCode": "OPERATION_ENQUEUED", "message": published.uuid, "fields": []}],
    })
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
