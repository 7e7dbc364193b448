//! `/services/data/vXX.X/sobjects/StreamingChannel/{id}/push`: generic streaming's REST
//! resource (reference §6).
//!
//! - `GET` → `{"OnlineUserIds":[…],"ChannelName":"/u/…"}`: the users with a session subscribed
//!   to the channel (on any node of a cluster).
//! - `POST {"pushEvents":[{"payload":"…","userIds":[…]}]}` → one result per event,
//!   `{"fanoutCount":N,"userOnlineStatus":{"005…":true}}`. An empty `userIds` broadcasts to
//!   every subscriber (`fanoutCount` −1); otherwise only those users' sessions receive the
//!   event — live or by replay, as the audience is stored with it — and `fanoutCount` is how
//!   many of their sessions are subscribed now, on any node.
//!
//! Every event of one request is appended in one batch and the reply is sent once they are
//! durable; each is delivered as `{"event":{"createdDate","replayId"},"payload":"…"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bayou_log::{Audience, NewEvent};
use bayou_protocol::events::encode_generic_event;
use bayou_server::Engine;
use serde_json::{json, Map, Value};

use super::StreamingChannel;
use crate::rest::as_user;
use crate::rest::errors::RestError;
use crate::Org;

/// Longest payload Salesforce accepts, in characters.
pub const MAX_PAYLOAD_CHARS: usize = 3_000;

/// Most users one push event may target (the list is stored with the event).
pub const MAX_USER_IDS: usize = 1_000;

/// One `pushEvents` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub payload: String,
    /// The ids as the client wrote them (the reply's keys) and their 18-character form.
    pub user_ids: Vec<(String, String)>,
}

fn channel(org: &Org, object: &str, id: &str) -> Result<StreamingChannel, RestError> {
    if !object.eq_ignore_ascii_case("StreamingChannel") {
        return Err(RestError::not_found());
    }
    org.channel_by_id(id).ok_or_else(RestError::not_found)
}

/// `GET …/StreamingChannel/{id}/push`
pub async fn online(
    State(org): State<Arc<Org>>,
    State(engine): State<Arc<Engine>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    as_user(&org, &headers, |_| async {
        let channel = channel(&org, &object, &id)?;
        let sessions = engine.subscribed_sessions_everywhere(&channel.name).await;
        let mut online: Vec<String> = sessions.into_keys().collect();
        online.sort();
        Ok(Json(json!({"OnlineUserIds": online, "ChannelName": channel.name})).into_response())
    })
    .await
}

/// `POST …/StreamingChannel/{id}/push`
pub async fn push(
    State(org): State<Arc<Org>>,
    State(engine): State<Arc<Engine>>,
    Path((_version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    as_user(&org, &headers, |_| async {
        let channel = channel(&org, &object, &id)?;
        let online = engine.subscribed_sessions_everywhere(&channel.name).await;
        let results = org.push(&channel, parse(&body)?, &online).await?;
        Ok(Json(Value::Array(results)).into_response())
    })
    .await
}

/// The events of a push body, checked: `{"pushEvents":[{"payload","userIds"}]}`.
///
/// Public, with [`Push`], only so that the `rest_json` fuzz target (`fuzz/`) can feed it any
/// bytes.
pub fn parse(body: &[u8]) -> Result<Vec<Push>, RestError> {
    let bad = |message: String| RestError::bad_request("JSON_PARSER_ERROR", message);
    let request: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let events = request
        .get("pushEvents")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("pushEvents must be an array of {payload, userIds}".into()))?;
    if events.is_empty() {
        return Err(RestError::bad_request(
            "INVALID_FIELD",
            "pushEvents must contain at least one event",
        ));
    }
    events
        .iter()
        .map(|event| {
            let payload = event
                .get("payload")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("each push event needs a string payload".into()))?;
            if payload.chars().count() > MAX_PAYLOAD_CHARS {
                return Err(RestError::bad_request(
                    "STRING_TOO_LONG",
                    format!("payload: data value too large (max length={MAX_PAYLOAD_CHARS})"),
                ));
            }
            let user_ids = match event.get("userIds") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ids)) if ids.len() > MAX_USER_IDS => {
                    return Err(RestError::bad_request(
                        "LIMIT_EXCEEDED",
                        format!("userIds: at most {MAX_USER_IDS} users per push event"),
                    ))
                }
                Some(Value::Array(ids)) => ids
                    .iter()
                    .map(|id| {
                        let text = id.as_str().unwrap_or_default();
                        let full = crate::ids::to_18(text).ok_or_else(|| {
                            RestError::bad_request("MALFORMED_ID", format!("malformed id {id}"))
                        })?;
                        Ok((text.to_owned(), full))
                    })
                    .collect::<Result<Vec<_>, RestError>>()?,
                Some(_) => return Err(bad("userIds must be an array of user ids".into())),
            };
            Ok(Push {
                payload: payload.to_owned(),
                user_ids,
            })
        })
        .collect()
}

impl Org {
    /// Appends the pushes to `channel` in one batch; returns each one's result, reporting
    /// targeted users as online from `sessions` (each user's sessions subscribed to it).
    async fn push(
        &self,
        channel: &StreamingChannel,
        pushes: Vec<Push>,
        sessions: &HashMap<String, usize>,
    ) -> Result<Vec<Value>, RestError> {
        let mut results = Vec::with_capacity(pushes.len());
        let mut events = Vec::with_capacity(pushes.len());
        for push in pushes {
            let result = if push.user_ids.is_empty() {
                json!({"fanoutCount": -1, "userOnlineStatus": {}})
            } else {
                let mut status = Map::new();
                let mut fanout = 0;
                for (written, full) in &push.user_ids {
                    let online = sessions.get(full).copied().unwrap_or(0);
                    fanout += online;
                    status.insert(written.clone(), Value::Bool(online > 0));
                }
                json!({"fanoutCount": fanout, "userOnlineStatus": status})
            };
            results.push(result);
            let name = channel.name.clone();
            let payload = push.payload;
            events.push(NewEvent {
                channel: name.clone(),
                encode: Box::new(move |replay_id, created_ms| {
                    encode_generic_event(&name, &payload, replay_id, created_ms)
                }),
                audience: Audience::of(push.user_ids.iter().map(|(_, full)| full)),
            });
        }
        self.store
            .append_with_records(events, Vec::new())
            .await
            .map_err(|e| RestError::storage("the events", &e))?;
        Ok(results)
    }
}
