//! `Publish` and `PublishStream`: Avro events in, one result per event out. Each event's datum
//! is decoded with the schema it names, checked against the event type as a REST publish would
//! be, and the valid ones of a request are appended to the log together; each gets its replay
//! id or its own error, with the event's id as the correlation key.

use std::time::Duration;

use bayou_org::events::avro::MAX_EVENT_BYTES;
use bayou_org::events::publish::NewPlatformEvent;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Code, Status, Streaming};

use crate::auth::Caller;
use crate::proto::{
    Error as PublishError, ErrorCode, PublishRequest, PublishResponse, PublishResult,
};
use crate::status::{codes, failure};
use crate::topics;
use crate::{replay_id, stopping, Inner};

/// Publishes one request's events.
pub(crate) async fn publish(
    inner: &Inner,
    caller: &Caller,
    request: PublishRequest,
) -> Result<PublishResponse, Status> {
    let topic = topics::resolve(&inner.org, &request.topic_name).await?;
    if !topic.can_publish {
        return Err(topics::no_publish(&topic));
    }
    let mut results: Vec<Option<PublishResult>> = Vec::with_capacity(request.events.len());
    let mut accepted = Vec::new();
    let mut positions = Vec::new();
    for (index, event) in request.events.into_iter().enumerate() {
        let refuse = |msg: String| PublishResult {
            replay_id: Default::default(),
            error: Some(PublishError {
                code: ErrorCode::Publish.into(),
                msg,
            }),
            correlation_key: event.id.clone(),
        };
        if event.payload.len() > MAX_EVENT_BYTES {
            results.push(Some(refuse(format!(
                "{}: the event is {} bytes; the maximum is {MAX_EVENT_BYTES}.",
                codes::PUBLISH_SIZE,
                event.payload.len()
            ))));
            continue;
        }
        let schema = match inner.org.event_schema(&event.schema_id).await {
            Some(schema) if schema.event == topic.event => schema,
            _ => {
                results.push(Some(refuse(format!(
                    "{}: schema {:?} is not a schema of {}.",
                    codes::PUBLISH_SCHEMA,
                    event.schema_id,
                    topic.channel
                ))));
                continue;
            }
        };
        match schema.decode(&event.payload) {
            Ok(mut fields) => {
                // The org stamps these, as for a REST publish.
                fields.remove("CreatedDate");
                fields.remove("CreatedById");
                fields.retain(|_, value| !value.is_null());
                results.push(None);
                accepted.push(NewPlatformEvent {
                    uuid: (!event.id.is_empty()).then(|| event.id.clone()),
                    fields,
                });
                positions.push((index, event.id));
            }
            Err(e) => results.push(Some(refuse(e.to_string()))),
        }
    }
    let outcomes = inner
        .org
        .publish_events(&topic.event, accepted, &caller.user_id)
        .await
        .map_err(|e| failure(Code::Unavailable, codes::UNAVAILABLE, e.message))?;
    for ((index, correlation_key), outcome) in positions.into_iter().zip(outcomes) {
        results[index] = Some(match outcome {
            Ok(published) => PublishResult {
                replay_id: replay_id::encode(published.replay_id),
                error: None,
                correlation_key,
            },
            Err(e) => PublishResult {
                replay_id: Default::default(),
                error: Some(PublishError {
                    code: ErrorCode::Publish.into(),
                    msg: format!("{}: {}", e.code, e.message),
                }),
                correlation_key,
            },
        });
    }
    let published = results
        .iter()
        .flatten()
        .filter(|r| r.error.is_none())
        .count();
    metrics::counter!("bayou_pubsub_published_events_total").increment(published as u64);
    Ok(PublishResponse {
        results: results.into_iter().flatten().collect(),
        schema_id: topic.schema.map(|s| s.id.clone()).unwrap_or_default(),
        rpc_id: bayou_org::events::new_uuid(),
    })
}

/// Runs one `PublishStream`: a response per request, in order; the topic is the first
/// request's; a stream with no request for `idle` is closed, as Salesforce does after 70 s.
pub(crate) async fn run_stream(
    inner: std::sync::Arc<Inner>,
    caller: Caller,
    mut inbound: Streaming<PublishRequest>,
    out: mpsc::Sender<Result<PublishResponse, Status>>,
    idle: Duration,
) {
    let mut topic_name: Option<String> = None;
    let mut shutdown = inner.engine.shutdown_signal();
    loop {
        let deadline = Instant::now() + idle;
        let request = tokio::select! {
            request = inbound.message() => request,
            () = stopping(&mut shutdown) => {
                let _ = out.send(Err(failure(
                    Code::Unavailable,
                    codes::UNAVAILABLE,
                    "The server is shutting down; open a new publish stream.",
                ))).await;
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                let _ = out.send(Err(failure(
                    Code::Unavailable,
                    codes::IDLE,
                    format!("The publish stream was closed: no request for {} s.", idle.as_secs()),
                ))).await;
                return;
            }
        };
        let mut request = match request {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let outcome = if !caller.is_live(&inner.org) {
            Err(crate::auth::expired())
        } else {
            match &topic_name {
                None => {
                    topic_name = Some(request.topic_name.clone());
                    Ok(())
                }
                Some(first) if request.topic_name.is_empty() => {
                    request.topic_name = first.clone();
                    Ok(())
                }
                Some(first) if *first != request.topic_name => Err(failure(
                    Code::InvalidArgument,
                    codes::TOPIC_MISMATCH,
                    format!(
                        "The topic {} differs from the stream's topic {first}.",
                        request.topic_name
                    ),
                )),
                Some(_) => Ok(()),
            }
        };
        let response = match outcome {
            Ok(()) => publish(&inner, &caller, request).await,
            Err(status) => Err(status),
        };
        let failed = response.is_err();
        if out.send(response).await.is_err() || failed {
            return;
        }
    }
}
