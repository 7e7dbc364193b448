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
    let user = match super::authorize(&org, &headers).await {
        Ok(user) => user,
        Err(denied) => return denied,
    };
    let subrequests = match subrequests(&body) {
        Ok(subrequests) => subrequests,
        Err(e) => return e.into_response(),
    };
    let mut responses = Vec::with_capacity(subrequests.len());
    let txn = Transaction::new(&user, &version);
    for sub in &subrequests {
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

/// The sub-requests of a composite body: its `compositeRequest` array, at most 25 of them.
///
/// Public, with [`SubRequest::parse`], only so that the `rest_json` fuzz target (`fuzz/`) can
/// feed them any bytes.
pub fn subrequests(body: &[u8]) -> Result<Vec<Value>, RestError> {
    let mut request: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::bad_request("JSON_PARSER_ERROR", e.to_string()))?;
    let Some(Value::Array(subrequests)) = request.get_mut("compositeRequest").map(Value::take)
    else {
        return Err(RestError::bad_request(
            "INVALID_FIELD",
            "compositeRequest must be an array",
        ));
    };
    if subrequests.len() > 25 {
        return Err(RestError::bad_request(
            "LIMIT_EXCEEDED",
            "A composite request can have at most 25 subrequests",
        ));
    }
    Ok(subrequests)
}

/// One supported sub-request, read from its `method`, `url` and `body`.
#[derive(Debug, Clone, PartialEq)]
pub enum SubRequest<'a> {
    /// `POST …/sobjects/{Type}`: a record, or a platform event when `Type` ends in `__e`.
    Create { object: &'a str, fields: Fields },
    /// `GET …/sobjects/{Type}/{Id}`.
    Get { object: &'a str, id: &'a str },
    /// `PATCH …/sobjects/{Type}/{Id}`.
    Update {
        object: &'a str,
        id: &'a str,
        fields: Fields,
    },
    /// `DELETE …/sobjects/{Type}/{Id}`.
    Delete { object: &'a str, id: &'a str },
}

impl<'a> SubRequest<'a> {
    /// Reads a sub-request; an unsupported URL or method, or a body that is not an object of
    /// fields where one is needed, is the error its sub-response carries.
    pub fn parse(sub: &'a Value) -> Result<Self, RestError> {
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
            ("POST", None) => Ok(Self::Create {
                object: rest,
                fields: body()?,
            }),
            ("GET", Some((object, id))) => Ok(Self::Get { object, id }),
            ("PATCH", Some((object, id))) => Ok(Self::Update {
                object,
                id,
                fields: body()?,
            }),
            ("DELETE", Some((object, id))) => Ok(Self::Delete { object, id }),
            _ => Err(RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{method} is not supported on {url}"),
            )),
        }
    }
}

async fn run(
    org: &Org,
    version: &str,
    txn: &Transaction,
    sub: &Value,
) -> Result<(StatusCode, Value, Option<String>), RestError> {
    let user = txn.user_id.as_str();
    match SubRequest::parse(sub)? {
        SubRequest::Create { object, fields } => {
            if object.to_ascii_lowercase().ends_with("__e") {
                let published = org.publish_event(object, fields, user).await?;
                return Ok((StatusCode::CREATED, event_reply(&published), None));
            }
            let id = org.create_record(object, fields, txn).await?;
            let location = format!("/services/data/{version}/sobjects/{object}/{id}");
            Ok((
                StatusCode::CREATED,
                json!({"id": id, "success": true, "errors": []}),
                Some(location),
            ))
        }
        SubRequest::Get { object, id } => {
            let (object, _) = org.object(object).ok_or_else(RestError::not_found)?;
            let fields = org.live_record(&object, id).await?;
            Ok((
                StatusCode::OK,
                with_attributes(version, &object, fields),
                None,
            ))
        }
        SubRequest::Update { object, id, fields } => {
            org.update_record(object, id, fields, txn).await?;
            Ok((StatusCode::NO_CONTENT, Value::Null, None))
        }
        SubRequest::Delete { object, id } => {
            org.delete_record(object, id, txn).await?;
            Ok((StatusCode::NO_CONTENT, Value::Null, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sub: &Value) -> Result<SubRequest<'_>, &'static str> {
        SubRequest::parse(sub).map_err(|e| e.code)
    }

    #[test]
    fn subrequests_are_read_from_method_url_and_body() {
        let create = json!({"method": "post", "url": "/services/data/v62.0/sobjects/Account/", "body": {"Name": "A"}});
        assert_eq!(
            parse(&create),
            Ok(SubRequest::Create {
                object: "Account",
                fields: json!({"Name": "A"}).as_object().unwrap().clone(),
            })
        );
        let get = json!({"method": "GET", "url": "/services/data/v62.0/sobjects/Account/001D000000IqhSL?fields=Name"});
        assert_eq!(
            parse(&get),
            Ok(SubRequest::Get {
                object: "Account",
                id: "001D000000IqhSL"
            })
        );
        let delete = json!({"method": "DELETE", "url": "/services/data/v62.0/sobjects/Account/001D000000IqhSL"});
        assert!(matches!(parse(&delete), Ok(SubRequest::Delete { .. })));
        let update = json!({"method": "PATCH", "url": "/services/data/v62.0/sobjects/Account/001D000000IqhSL", "body": [1]});
        assert_eq!(parse(&update), Err("JSON_PARSER_ERROR"));
        let put = json!({"method": "PUT", "url": "/services/data/v62.0/sobjects/Account/001D000000IqhSL"});
        assert_eq!(parse(&put), Err("METHOD_NOT_ALLOWED"));
        assert_eq!(
            parse(&json!({"method": "GET", "url": "/services/data/v62.0/query"})),
            Err("INVALID_FIELD")
        );
        assert_eq!(parse(&json!(7)), Err("INVALID_FIELD"));
    }

    #[test]
    fn a_composite_body_holds_at_most_25_subrequests() {
        let codes = |body: &[u8]| subrequests(body).map(|s| s.len()).map_err(|e| e.code);
        assert_eq!(codes(br#"{"compositeRequest":[{},{}]}"#), Ok(2));
        assert_eq!(codes(b"{"), Err("JSON_PARSER_ERROR"));
        assert_eq!(codes(br#"{"compositeRequest":{}}"#), Err("INVALID_FIELD"));
        assert_eq!(codes(b"[]"), Err("INVALID_FIELD"));
        let many = json!({ "compositeRequest": vec![json!({}); 26] }).to_string();
        assert_eq!(codes(many.as_bytes()), Err("LIMIT_EXCEEDED"));
    }
}
