//! `GET /services/data/vXX.X/query?q=SELECT …`: SOQL over one object's stored records — WHERE,
//! ORDER BY (with NULLS FIRST/LAST), LIMIT and OFFSET — replying
//! `{"totalSize","done":true,"records":[…]}`. Errors point at the position in the query.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bayou_soql::{EvalContext, NullsOrder};
use serde_json::{json, Map, Value};

use super::errors::RestError;
use super::sobjects::with_attributes;
use crate::records::{field, objects, Fields};
use crate::Org;

pub async fn query(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = super::authorize(&org, &headers) {
        return denied;
    }
    match run(&org, &version, params.get("q").map(String::as_str)).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Salesforce's limit on the length of a SOQL statement.
const MAX_QUERY_CHARS: usize = 100_000;

async fn run(org: &Org, version: &str, q: Option<&str>) -> Result<Value, RestError> {
    let q = q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
        RestError::bad_request("MALFORMED_QUERY", "A query string has to be specified")
    })?;
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(RestError::bad_request(
            "MALFORMED_QUERY",
            format!("SOQL statements cannot be longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let query = bayou_soql::parse(q).map_err(|e| RestError::bad_request(e.code, e.describe(q)))?;
    let (object, _) = objects::lookup(&query.object.name).ok_or_else(|| {
        RestError::bad_request(
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", query.object.name),
        )
    })?;
    let ctx = EvalContext {
        now_ms: bayou_protocol::time::now_millis(),
    };
    let stored = org
        .store
        .records(format!("{object}/").as_bytes())
        .await
        .map_err(|e| RestError::internal(e.to_string()))?;
    let mut rows: Vec<Fields> = stored
        .iter()
        .filter_map(|(_, value)| serde_json::from_slice::<Fields>(value).ok())
        .filter(|fields| field(fields, "IsDeleted") != Some(&Value::Bool(true)))
        .filter(|fields| {
            query
                .condition
                .as_ref()
                .is_none_or(|c| bayou_soql::evaluate(c, fields, &ctx))
        })
        .collect();
    if !query.order_by.is_empty() {
        rows.sort_by(|a, b| {
            for order in &query.order_by {
                let name = order.field.name.as_str();
                let (x, y) = (field(a, name), field(b, name));
                let nulls_first = match order.nulls {
                    Some(NullsOrder::First) => true,
                    Some(NullsOrder::Last) => false,
                    None => !order.descending,
                };
                let ordering = compare(x, y, nulls_first, order.descending);
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            Ordering::Equal
        });
    }
    let offset = query.offset.unwrap_or(0) as usize;
    let limit = query.limit.map_or(usize::MAX, |l| l as usize);
    let records: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|fields| {
            let mut projected = Map::new();
            for name in query.select_fields() {
                projected.insert(
                    name.to_owned(),
                    field(&fields, name).cloned().unwrap_or(Value::Null),
                );
            }
            let id = field(&fields, "Id").cloned().unwrap_or(Value::Null);
            let mut shown =
                with_attributes(version, &object, Map::from_iter([("Id".to_owned(), id)]));
            if let Value::Object(out) = &mut shown {
                if !query.selects("Id") {
                    out.remove("Id");
                }
                out.extend(projected);
            }
            shown
        })
        .collect();
    Ok(json!({"totalSize": records.len(), "done": true, "records": records}))
}

/// Orders two field values: nulls as asked, numbers numerically, text case-insensitively.
fn compare(x: Option<&Value>, y: Option<&Value>, nulls_first: bool, descending: bool) -> Ordering {
    let x = x.filter(|v| !v.is_null());
    let y = y.filter(|v| !v.is_null());
    let ordering = match (x, y) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => {
            return if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Some(_), None) => {
            return if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Bool(a)), Some(Value::Bool(b))) => a.cmp(b),
        (Some(a), Some(b)) => text(a).to_lowercase().cmp(&text(b).to_lowercase()),
    };
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
