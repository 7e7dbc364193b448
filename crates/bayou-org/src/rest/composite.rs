//! `POST /services/data/vXX.X/composite`: several sObject calls in one request —
//! `{"compositeRequest":[{"method","url","referenceId","body"}]}` answered with
//! `{"compositeResponse":[{"body","httpHeaders","httpStatusCode","referenceId"}]}`, HTTP 200
//! whatever the sub-results. Supported sub-requests: `POST …/sobjects/{Type}` (records and
//! platform events), `GET`/`PATCH`/`DELETE …/sobjects/{Type}/{Id}`. Each sub-request stands on
//! its own (`allOrNone` is accepted but, as on Salesforce for platform events published
//! immediately, rolls nothing back); `@{ref.field}` references are not supported. The record
//! changes of one composite request share one transaction (one Change Data Capture
//! `transactionKey`, numbered by `sequenceNumber`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::errors::RestError;
use super::sobjects::{event_reply, with_attributes};
use crate::records::Fields;
use crate::transaction::Transaction;
use crate::Org;

pub async fn composite(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let user = match super::authorize(&org, &headers) {
        Ok(user) => user,
        Err(denied) => return denied,
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            return RestError::bad_request("JSON_PARSER_ERROR", e.to_string()).into_response()
        }
    };
    let Some(subrequests) = request.get("compositeRequest").and_then(Value::as_array) else {
        return RestError::bad_request("INVALID_FIELD", "compositeRequest must be an array")
            .into_response();
    };
    if subrequests.len() > 25 {
        return RestError::bad_request(
            "LIMIT_EXCEEDED",
            "A composite request can have at most 25 subrequests",
        )
        .into_response();
    }
    let mut responses = Vec::with_capacity(subrequests.len());
    let txn = Transaction::new(&user, &version);
    for sub in subrequests {
        let reference = sub.get("referenceId").cloned().unwrap_or(Value::Null);
        let (status, body, location) = match run(&org, &version, &txn, sub).await {
            Ok(done) => done,
            Err(e) => (
                e.status,
                json!([{"message": e.message, "errorCode": e.code, "fields": e.fields}]),
                None,
            ),
        };
        let headers = location.map_or(json!({}), |l| json!({"Location": l}));
        responses.push(json!({"body": body, "httpHeaders": headers, "httpStatusCode": status.as_u16(), "referenceId": reference}));
    }
    Json(json!({"compositeResponse": responses})).into_response()
}

async fn run(
    org: &Org,
    version: &str,
    txn: &Transaction,
    sub: &Value,
) -> Result<(StatusCode, Value, Option<String>), RestError> {
    let user = txn.user_id.as_str();
    let method = sub
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let url = sub.get("url").and_then(Value::as_str).unwrap_or_default();
    let path = url.split('?').next().unwrap_or_default();
    let rest = path
        .split_once("/sobjects/")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .ok_or_else(|| {
            RestError::bad_request(
                "INVALID_FIELD",
                format!("unsupported composite url {url:?}"),
            )
        })?;
    let body = || -> Result<Fields, RestError> {
        match sub.get("body") {
            Some(Value::Object(fields)) => Ok(fields.clone()),
            _ => Err(RestError::bad_request(
                "JSON_PARSER_ERROR",
                "body must be a JSON object of fields",
            )),
        }
    };
    match (method.as_str(), rest.split_once('/')) {
        ("POST", None) => {
            if rest.to_ascii_lowercase().ends_with("__e") {
                let published = org.publish_event(rest, body()?, user).await?;
                return Ok((StatusCode::CREATED, event_reply(&published), None));
            }
            let id = org.create_record(rest, body()?, txn).await?;
            let location = format!("/services/data/{version}/sobjects/{rest}/{id}");
            Ok((
                StatusCode::CREATED,
                json!({"id": id, "success": true, "errors": []}),
                Some(location),
            ))
        }
        ("GET", Some((object, id))) => {
            let (object, _) = org.object(object).ok_or_else(RestError::not_found)?;
            let fields = org.live_record(&object, id).await?;
            Ok((
                StatusCode::OK,
                with_attributes(version, &object, fields),
                None,
            ))
        }
        ("PATCH", Some((object, id))) => {
            org.update_record(object, id, body()?, txn).await?;
            Ok((StatusCode::NO_CONTENT, Value::Null, None))
        }
        ("DELETE", Some((object, id))) => {
            org.delete_record(object, id, txn).await?;
            Ok((StatusCode::NO_CONTENT, Value::Null, None))
        }
        _ => Err(RestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not supported on {url}"),
        )),
    }
}
