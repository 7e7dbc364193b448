//! `GET /services/data/vXX.X/query?q=SELECT …`: SOQL over one object's stored records — WHERE,
//! ORDER BY (with NULLS FIRST/LAST), LIMIT and OFFSET — replying
//! `{"totalSize","done","records":[…]}`, a batch at a time with `nextRecordsUrl` when there are
//! more (see `query_cursor.rs`). Errors point at the position in the query.
//!
//! The object is read a page of records at a time, and a matching record is kept only as its
//! id and the values it is ordered by, so a query over large records holds little memory;
//! records are read again, by id, when their batch is returned.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bayou_soql::{EvalContext, NullsOrder};
use serde_json::{json, Map, Value};

use super::errors::RestError;
use super::query_cursor::Cursor;
use super::sobjects::with_attributes;
use super::work_budget::{json_reply, WorkBudget};
use crate::records::{field, identity_objects, Fields};
use crate::Org;

pub async fn query(
    State(org): State<Arc<Org>>,
    Path(version): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let user_id = match super::authorize(&org, &headers).await {
        Ok(user_id) => user_id,
        Err(denied) => return denied,
    };
    let batch = batch_size(&headers);
    let q = params.get("q").map(String::as_str);
    match run(&org, &version, q, batch, &user_id).await {
        Ok(body) => json_reply(body).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /services/data/vXX.X/query/<cursor>-<returned so far>`: the next batch of a query.
pub async fn next_records(
    State(org): State<Arc<Org>>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let user_id = match super::authorize(&org, &headers).await {
        Ok(user_id) => user_id,
        Err(denied) => return denied,
    };
    let invalid =
        || RestError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator").into_response();
    let Some((cursor_id, from)) = locator
        .rsplit_once('-')
        .and_then(|(id, from)| Some((id, from.parse::<usize>().ok()?)))
    else {
        return invalid();
    };
    let Some(page) = org.query_cursors.lock().page(cursor_id, &user_id, from) else {
        return invalid();
    };
    let returned = from + page.ids.len();
    let records = match fetch(
        &org,
        &version,
        &page.object,
        &page.ids,
        &page.fields,
        page.selects_id,
    )
    .await
    {
        Ok(records) => records,
        Err(e) => return e.into_response(),
    };
    let mut body =
        json!({"totalSize": page.total, "done": returned >= page.total, "records": records});
    if returned < page.total {
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/{version}/query/{cursor_id}-{returned}"
        ));
    } else {
        org.query_cursors.lock().close(cursor_id);
    }
    json_reply(body).await
}

/// Records per batch: `Sforce-Query-Options: batchSize=N` (200 to 2,000), else 2,000.
fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|options| {
            options
                .split(',')
                .filter_map(|o| o.trim().strip_prefix("batchSize="))
                .find_map(|n| n.trim().parse::<usize>().ok())
        })
        .map_or(MAX_BATCH, |n| n.clamp(MIN_BATCH, MAX_BATCH))
}

/// Salesforce's limit on the length of a SOQL statement.
const MAX_QUERY_CHARS: usize = 100_000;
/// Records per batch, at most and at least.
const MAX_BATCH: usize = 2_000;
const MIN_BATCH: usize = 200;
/// Records read from the store at a time while a query scans its object.
const SCAN_PAGE: usize = 200;

/// A matching record while the query runs: its id and the values it is ordered by (the rest
/// of the record is dropped as soon as it has been matched).
struct Candidate {
    id: String,
    keys: Vec<Option<Value>>,
}

async fn run(
    org: &Org,
    version: &str,
    q: Option<&str>,
    batch: usize,
    user_id: &str,
) -> Result<Value, RestError> {
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
    let (object, _) = org.object(&query.object.name).ok_or_else(|| {
        RestError::bad_request(
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", query.object.name),
        )
    })?;
    let ctx = EvalContext {
        now_ms: bayou_protocol::time::now_millis(),
    };
    // The object's records a page at a time: memory holds one page and the matches' ids.
    // User and Organization come from the org's identity, all at once (they are few).
    let mut candidates: Vec<Candidate> = Vec::new();
    let keep = |fields: &Fields, candidates: &mut Vec<Candidate>| {
        let deleted = field(fields, "IsDeleted") == Some(&Value::Bool(true));
        let matches = query
            .condition
            .as_ref()
            .is_none_or(|c| bayou_soql::evaluate(c, fields, &ctx));
        if deleted || !matches {
            return;
        }
        let id = field(fields, "Id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let keys = query
            .order_by
            .iter()
            .map(|o| field(fields, &o.field.name).cloned())
            .collect();
        candidates.push(Candidate {
            id: id.to_owned(),
            keys,
        });
    };
    if let Some(records) = identity_objects::records(org, &object) {
        for fields in &records {
            keep(fields, &mut candidates);
        }
    } else {
        let prefix = format!("{object}/");
        let mut after: Option<Vec<u8>> = None;
        let mut budget = WorkBudget::default();
        loop {
            let page = org
                .store
                .records_page(prefix.as_bytes(), after.as_deref(), SCAN_PAGE)
                .await
                .map_err(|e| RestError::internal(e.to_string()))?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (_, value) in &page {
                budget.spend(value.len()).await;
                if let Ok(fields) = serde_json::from_slice::<Fields>(value) {
                    keep(&fields, &mut candidates);
                }
            }
            if page.len() < SCAN_PAGE {
                break;
            }
        }
    }
    if !query.order_by.is_empty() {
        candidates.sort_by(|a, b| {
            for (i, order) in query.order_by.iter().enumerate() {
                let nulls_first = match order.nulls {
                    Some(NullsOrder::First) => true,
                    Some(NullsOrder::Last) => false,
                    None => !order.descending,
                };
                let (x, y) = (a.keys[i].as_ref(), b.keys[i].as_ref());
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
    let ids: Vec<String> = candidates
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| c.id)
        .collect();
    let fields: Vec<String> = query
        .select_fields()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let selects_id = query.selects("Id");
    let total = ids.len();
    let first = &ids[..total.min(batch)];
    let records = fetch(org, version, &object, first, &fields, selects_id).await?;
    let mut body = json!({"totalSize": total, "done": total <= batch, "records": records});
    if total > batch {
        let returned = first.len();
        let cursor = Cursor::new(user_id.to_owned(), object, ids, fields, selects_id, batch);
        let cursor_id = org.query_cursors.lock().open(cursor);
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/{version}/query/{cursor_id}-{returned}"
        ));
    }
    Ok(body)
}

/// The records `ids` of `object`, shown as a query shows them: `attributes`, then the SELECT
/// list (`Id` only if selected). A record removed since the query ran is left out.
async fn fetch(
    org: &Org,
    version: &str,
    object: &str,
    ids: &[String],
    fields: &[String],
    selects_id: bool,
) -> Result<Vec<Value>, RestError> {
    let mut records = Vec::with_capacity(ids.len());
    if let Some(all) = identity_objects::records(org, object) {
        for id in ids {
            let found = all
                .iter()
                .find(|r| field(r, "Id").and_then(Value::as_str) == Some(id.as_str()));
            if let Some(record) = found {
                records.push(shown(version, object, record, fields, selects_id));
            }
        }
        return Ok(records);
    }
    let mut budget = WorkBudget::default();
    for id in ids {
        let stored = org
            .store
            .record(&crate::records::key(object, id))
            .await
            .map_err(|e| RestError::internal(e.to_string()))?;
        let Some(stored) = stored else {
            continue;
        };
        budget.spend(stored.len()).await;
        let Ok(record) = serde_json::from_slice::<Fields>(&stored) else {
            continue;
        };
        records.push(shown(version, object, &record, fields, selects_id));
    }
    Ok(records)
}

/// A record as a query shows it: `attributes`, then the SELECT list (`Id` only if selected).
fn shown(
    version: &str,
    object: &str,
    record: &Fields,
    fields: &[String],
    selects_id: bool,
) -> Value {
    let mut projected = Map::new();
    for name in fields {
        projected.insert(
            name.clone(),
            field(record, name).cloned().unwrap_or(Value::Null),
        );
    }
    let id = field(record, "Id").cloned().unwrap_or(Value::Null);
    let mut shown = with_attributes(version, object, Map::from_iter([("Id".to_owned(), id)]));
    if let Value::Object(out) = &mut shown {
        if !selects_id {
            out.remove("Id");
        }
        out.extend(projected);
    }
    shown
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
