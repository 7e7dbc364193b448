//! `/services/data`: the REST API. Every call needs a live access token; errors are
//! Salesforce-shaped arrays `[{"message","errorCode"}]`.

pub mod composite;
pub mod describe;
pub mod errors;
pub mod limits;
pub mod query;
pub mod query_cursor;
pub mod sobjects;
pub mod versions;
pub mod work_budget;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::{bearer_token, Org};

pub(crate) fn router() -> Router<crate::HttpState> {
    Router::new()
        .route("/services/data", get(versions::list))
        .route("/services/data/", get(versions::list))
        .route("/services/data/{version}", get(versions::resources))
        .route("/services/data/{version}/", get(versions::resources))
        .route("/services/data/{version}/sobjects", get(describe::global))
        .route("/services/data/{version}/sobjects/", get(describe::global))
        .route(
            "/services/data/{version}/sobjects/{object}",
            post(sobjects::create).get(describe::basic),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/",
            post(sobjects::create).get(describe::basic),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/describe",
            get(describe::describe),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/describe/",
            get(describe::describe),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{id}",
            get(sobjects::get)
                .patch(sobjects::update)
                .delete(sobjects::delete),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{id}/undelete",
            post(sobjects::undelete),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{id}/push",
            get(crate::streaming_channel::push::online).post(crate::streaming_channel::push::push),
        )
        .route(
            "/services/data/{version}/composite",
            post(composite::composite),
        )
        .route(
            "/services/data/{version}/composite/",
            post(composite::composite),
        )
        .route("/services/data/{version}/limits", get(limits::limits))
        .route("/services/data/{version}/limits/", get(limits::limits))
        .route(
            "/services/data/{version}/tooling/sobjects/ManagedEventSubscription",
            post(crate::managed::create),
        )
        .route(
            "/services/data/{version}/tooling/sobjects/ManagedEventSubscription/{id}",
            get(crate::managed::get_one)
                .patch(crate::managed::update)
                .delete(crate::managed::delete),
        )
        .route(
            "/services/data/{version}/tooling/query",
            get(crate::managed::query),
        )
        .route(
            "/services/data/{version}/tooling/query/",
            get(crate::managed::query),
        )
        .route("/services/data/{version}/query", get(query::query))
        .route("/services/data/{version}/query/", get(query::query))
        .route(
            "/services/data/{version}/query/{locator}",
            get(query::next_records),
        )
}

/// A Salesforce REST error reply.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{"message": message, "errorCode": code}])),
    )
        .into_response()
}

/// Runs `call` for the request's user, turning its result or error into the response.
pub(crate) async fn as_user<F, Fut>(org: &Org, headers: &HeaderMap, call: F) -> Response
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Response, errors::RestError>>,
{
    match authorize(org, headers).await {
        Ok(user) => call(user).await.unwrap_or_else(IntoResponse::into_response),
        Err(denied) => denied,
    }
}

/// Like [`as_user`], for reading one record by its id: a 404 is answered only once this node
/// has caught up with the other nodes of its cluster ([`Org::settle_records`]) and the call,
/// made again, still finds nothing. Behind a load balancer, a record created through one node
/// and read through another a moment later is there, as it would be on Salesforce. (Writes
/// catch up before they start: see `records/write.rs`.) With one process the second call comes
/// at once.
pub(crate) async fn as_user_on_record<F, Fut>(org: &Org, headers: &HeaderMap, call: F) -> Response
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Response, errors::RestError>>,
{
    let user = match authorize(org, headers).await {
        Ok(user) => user,
        Err(denied) => return denied,
    };
    let answer = match call(user.clone()).await {
        Err(missing) if missing.status == StatusCode::NOT_FOUND => {
            org.settle_records().await;
            call(user).await
        }
        answer => answer,
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// The user id of the request's token, or the 401 Salesforce answers. A token this node does
/// not know yet is looked up again once it has caught up with the other nodes of its cluster
/// ([`Org::user_of_token_settled`]).
#[allow(clippy::result_large_err)]
pub(crate) async fn authorize(org: &Org, headers: &HeaderMap) -> Result<String, Response> {
    let user = match bearer_token(headers) {
        Some(token) => org.user_of_token_settled(&token).await,
        None => None,
    };
    user.ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    })
}
