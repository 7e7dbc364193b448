//! `Publish` and `PublishStream`: Avro events in, one result per event out. Each event's datum
//! is decoded with the schema it names, checked against the event type as a REST publish would
//! be, and the valid ones of a request are appended to the log together; each gets its replay
//! id or its own error, with the event's id as the correlation key.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bayou_org::events::avro::MAX_EVENT_BYTES;
use bayou_org::events::publish::{NewPlatformEvent, QueuedEvents};
use futures_util::stream::{FuturesOrdered, StreamExt};
use prost::Message as _;
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

/// Requests of one `PublishStream` queued in the log and not yet answered, at most: the
/// stream reads no more until the oldest is answered.
///
/// Many, because small requests must not wait unread: h2 closes a connection whose peer has
/// more than about 200 small DATA frames buffered and not yet read by the server
/// (`GOAWAY ENHANCE_YOUR_CALM`, "too_many_data_frames"), which is what a client publishing one
/// event per request as fast as it can (Salesforce's Python example, say) would get from a
/// stream that read one request per store round trip. Memory stays bounded by the bytes below.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 1_000;
/// Bytes of such requests at most (a request alone may be larger: gRPC's 4 MB).
const MAX_BYTES_IN_FLIGHT: usize = 8 * 1024 * 1024;

/// Publishes one request's events.
pub(crate) async fn publish(
    inner: &Inner,
    caller: &Caller,
    request: PublishRequest,
) -> Result<PublishResponse, Status> {
    queue(inner, caller, request)
        .await?
        .response(StoreFailure::EndsCall)
        .await
}

/// What a request whose events the log could not store is answered with.
#[derive(Clone, Copy)]
pub(crate) enum StoreFailure {
    /// The call's status (`Publish`: the call is one request).
    EndsCall,
    /// An error result per event, the stream going on (`PublishStream`: the requests after it
    /// may be stored already, and each is still answered).
    PerEvent,
}

/// One request's events checked and queued in the log; [`Queued::response`] waits until they
/// are stored.
pub(crate) struct Queued {
    /// One per event; `None` for those queued, until they are stored.
    results: Vec<Option<PublishResult>>,
    /// Index in `results` and correlation key of each event queued, in order.
    positions: Vec<(usize, String)>,
    events: QueuedEvents,
    schema_id: String,
}

/// Checks a request's events and queues the valid ones in the log.
pub(crate) async fn queue(
    inner: &Inner,
    caller: &Caller,
    request: PublishRequest,
) -> Result<Queued, Status> {
    if request.topic_name.is_empty() {
        return Err(failure(
            Code::InvalidArgument,
            codes::PUBLISH_TOPIC_EMPTY,
            "The topic name is blank: give a topic name.",
        ));
    }
    let topic = topics::resolve(&inner.org, &request.topic_name).await?;
    if !topic.can_publish {
        return Err(topics::no_publish(&topic));
    }
    if request.events.is_empty() {
        return Err(failure(
            Code::InvalidArgument,
            codes::PUBLISH_EVENT_COUNT,
            "The publish request has no events: send at least one.",
        ));
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
    let events = inner
        .org
        .queue_events(&topic.event, accepted, &caller.user_id)
        .await
        .map_err(|e| failure(Code::Unavailable, codes::UNAVAILABLE, e.message))?;
    Ok(Queued {
        results,
        positions,
        events,
        schema_id: topic.schema.map(|s| s.id.clone()).unwrap_or_default(),
    })
}

impl Queued {
    /// The request's response, once its events are stored.
    pub(crate) async fn response(
        self,
        on_failure: StoreFailure,
    ) -> Result<PublishResponse, Status> {
        let Self {
            mut results,
            positions,
            events,
            schema_id,
        } = self;
        let outcomes = match events.outcomes().await {
            Ok(outcomes) => outcomes,
            Err(e) => match on_failure {
                StoreFailure::EndsCall => {
                    return Err(failure(Code::Unavailable, codes::UNAVAILABLE, e.message));
                }
                StoreFailure::PerEvent => positions.iter().map(|_| Err(e.clone())).collect(),
            },
        };
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
            schema_id,
            rpc_id: bayou_org::events::new_uuid(),
        })
    }
}

/// Runs one `PublishStream`: a response per request, in order; the topic is the first
/// request's; a stream with no request for `idle` is closed, as Salesforce does after 70 s.
///
/// As Salesforce's proto promises, a client need not wait for one response before sending the
/// next request: each request's events are queued in the log as soon as it is read, and the
/// stream reads on (up to [`MAX_REQUESTS_IN_FLIGHT`] requests and 8 MiB of them). Responses
/// go out in the requests' order as their events are stored, and the events are stored in that
/// order too. A request that ends the stream (a topic mismatch, an expired token) is answered
/// with its error after the responses of the requests before it.
pub(crate) async fn run_stream(
    inner: std::sync::Arc<Inner>,
    caller: Caller,
    mut inbound: Streaming<PublishRequest>,
    out: mpsc::Sender<Result<PublishResponse, Status>>,
    idle: Duration,
) {
    let mut topic_name: Option<String> = None;
    let mut shutdown = inner.engine.shutdown_signal();
    let mut drops = inner.engine.drop_signal();
    let mut token_checked = Instant::now();
    let mut in_flight = FuturesOrdered::<Answer>::new();
    let mut bytes_in_flight = 0;
    // Set once a request's error will end the stream, or the client has sent its last one:
    // nothing more is read, and the stream ends once what is in flight is answered.
    let mut reading = true;
    let mut deadline = Instant::now() + idle;
    loop {
        if !reading && in_flight.is_empty() {
            return;
        }
        let room = reading
            && in_flight.len() < MAX_REQUESTS_IN_FLIGHT
            && (in_flight.is_empty() || bytes_in_flight < MAX_BYTES_IN_FLIGHT);
        tokio::select! {
            request = inbound.message(), if room => {
                let mut request = match request {
                    Ok(Some(request)) => request,
                    // The client is done sending: what it sent is still answered.
                    Ok(None) => {
                        reading = false;
                        continue;
                    }
                    // A request over the size limit: answered, after those before it, with
                    // the error. Any other error is the client resetting or leaving.
                    Err(status) => match crate::size_limit::refused(&status) {
                        Some(refused) => {
                            reading = false;
                            in_flight.push_back(Box::pin(std::future::ready((Err(refused), 0))));
                            continue;
                        }
                        None => return,
                    },
                };
                deadline = Instant::now() + idle;
                let checked = if !caller.is_live(&inner.org) {
                    Err(crate::auth::expired())
                } else {
                    same_topic(&mut topic_name, &mut request)
                };
                let size = request.encoded_len();
                let queued = match checked {
                    Ok(()) => queue(&inner, &caller, request).await,
                    Err(status) => Err(status),
                };
                let answer: Answer = match queued {
                    Ok(queued) => Box::pin(async move {
                        (queued.response(StoreFailure::PerEvent).await, size)
                    }),
                    Err(status) => {
                        reading = false;
                        Box::pin(std::future::ready((Err(status), size)))
                    }
                };
                bytes_in_flight += size;
                in_flight.push_back(answer);
            }
            Some((response, size)) = in_flight.next(), if !in_flight.is_empty() => {
                bytes_in_flight -= size;
                let failed = response.is_err();
                if out.send(response).await.is_err() || failed {
                    return;
                }
            }
            // An idle stream's token is checked as a subscription's is; a busy one's with each
            // request. Once expired, what is in flight is answered, then the error.
            () = tokio::time::sleep_until(token_checked + inner.config.token_check), if reading => {
                token_checked = Instant::now();
                if !caller.is_live(&inner.org) {
                    reading = false;
                    in_flight.push_back(Box::pin(std::future::ready((Err(crate::auth::expired()), 0))));
                }
            }
            _ = drops.changed() => {
                let _ = out.send(Err(failure(
                    Code::Unavailable,
                    codes::UNAVAILABLE,
                    "The connection was dropped by the server; open a new publish stream.",
                ))).await;
                return;
            }
            () = stopping(&mut shutdown) => {
                let _ = out.send(Err(failure(
                    Code::Unavailable,
                    codes::UNAVAILABLE,
                    "The server is shutting down; open a new publish stream.",
                ))).await;
                return;
            }
            // Idle: nothing read for `idle`, and nothing of the client's still to answer.
            () = tokio::time::sleep_until(deadline), if reading && in_flight.is_empty() => {
                let _ = out.send(Err(failure(
                    Code::Unavailable,
                    codes::IDLE,
                    format!("The publish stream was closed: no request for {} s.", idle.as_secs()),
                ))).await;
                return;
            }
        }
    }
}

/// A request's response once its events are stored, with the request's size.
type Answer = Pin<Box<dyn Future<Output = (Result<PublishResponse, Status>, usize)> + Send>>;

/// Checks that a request is for the stream's topic (the first request's), which a request
/// without a topic name inherits.
fn same_topic(topic_name: &mut Option<String>, request: &mut PublishRequest) -> Result<(), Status> {
    match topic_name {
        None => {
            *topic_name = Some(request.topic_name.clone());
            Ok(())
        }
        Some(first) if request.topic_name.is_empty() => {
            request.topic_name = first.clone();
            Ok(())
        }
        Some(first) if *first != request.topic_name => Err(failure(
            Code::InvalidArgument,
            codes::PUBLISH_TOPIC_MISMATCH,
            format!(
                "The topic {} differs from the stream's topic {first}.",
                request.topic_name
            ),
        )),
        Some(_) => Ok(()),
    }
}
