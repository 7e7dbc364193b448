//! One `Subscribe` stream: asks for a batch of events, asks for the next batch when the server
//! owes none, decodes each event, and remembers the latest replay id the server reported (so
//! a caller that stores it resumes without a gap, even after an idle period). When the stream
//! fails with an error worth retrying, it is opened again after that replay id (see the
//! module docs of `pubsub`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bayou_pubsub_proto::{FetchRequest, FetchResponse, ReplayPreset};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

use super::session::Session;
use super::{avro, schema, PubSubError, PubSubNotice, Schemas};

/// Events asked for at a time (Salesforce's most).
const BATCH: i32 = 100;

/// Delays between attempts to subscribe again: the first after 0.125–0.25 s, doubling up to
/// 15–30 s.
const RETRY_INITIAL: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What to do about a failed stream.
#[derive(Debug, PartialEq)]
enum Recovery {
    /// Subscribe again (the connection, the server or its node failed).
    Resubscribe,
    /// Log in again, then subscribe again.
    Reauthenticate,
    /// Nothing helps: the caller gets the error.
    GiveUp,
}

fn recovery(status: &Status) -> Recovery {
    match status.code() {
        Code::Unauthenticated => Recovery::Reauthenticate,
        // `UNAVAILABLE` is Salesforce's "retry later"; the others are what a broken connection
        // or a server killed mid-stream looks like from here.
        Code::Unavailable
        | Code::Unknown
        | Code::Internal
        | Code::Cancelled
        | Code::Aborted
        | Code::DeadlineExceeded => Recovery::Resubscribe,
        _ => Recovery::GiveUp,
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// New events only.
    Latest,
    /// Everything retained.
    Earliest,
    /// The events after this replay id.
    After(u64),
}

/// An event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct PubSubEvent {
    /// The replay id (the same number CometD subscribers see in `replayId`).
    pub replay_id: u64,
    /// The event's id (`EventUuid`).
    pub id: String,
    pub schema_id: String,
    /// The event's fields.
    pub payload: Value,
}

/// A running subscription.
pub struct PubSubSubscription {
    session: Arc<Session>,
    schemas: Schemas,
    topic: String,
    /// Where it first started: where it starts again if it had seen no replay id.
    start: Replay,
    requests: mpsc::Sender<FetchRequest>,
    responses: Streaming<FetchResponse>,
    ready: VecDeque<PubSubEvent>,
    latest_replay_id: Option<u64>,
    /// Attempts to subscribe again since the last response.
    failures: u32,
    /// Whether it logged in again since the last response (a second refusal then ends it).
    reauthenticated: bool,
    /// Set once `next` returned an error: the subscription has ended.
    ended: bool,
}

/// The number in a replay id's 8 bytes.
pub(crate) fn replay_id(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// One `Subscribe` call: its request sender and its responses.
type Stream = (mpsc::Sender<FetchRequest>, Streaming<FetchResponse>);

async fn open_stream(session: &Session, topic: &str, replay: Replay) -> Result<Stream, Status> {
    let (preset, from) = match replay {
        Replay::Latest => (ReplayPreset::Latest, Vec::new()),
        Replay::Earliest => (ReplayPreset::Earliest, Vec::new()),
        Replay::After(id) => (ReplayPreset::Custom, id.to_be_bytes().to_vec()),
    };
    let (requests, outbound) = mpsc::channel(4);
    let first = FetchRequest {
        topic_name: topic.to_owned(),
        replay_preset: preset.into(),
        replay_id: from.into(),
        num_requested: BATCH,
        auth_refresh: String::new(),
    };
    // Room for it: the channel is new.
    let _ = requests.try_send(first);
    let responses = session
        .grpc()
        .subscribe(ReceiverStream::new(outbound))
        .await?
        .into_inner();
    Ok((requests, responses))
}

impl PubSubSubscription {
    pub(crate) async fn open(
        session: Arc<Session>,
        schemas: Schemas,
        topic: &str,
        replay: Replay,
    ) -> Result<Self, PubSubError> {
        let (requests, responses) = match open_stream(&session, topic, replay).await {
            Err(status) if status.code() == Code::Unauthenticated => {
                session.reauthenticate(status.message()).await?;
                open_stream(&session, topic, replay).await?
            }
            stream => stream?,
        };
        Ok(Self {
            session,
            schemas,
            topic: topic.to_owned(),
            start: replay,
            requests,
            responses,
            ready: VecDeque::new(),
            latest_replay_id: None,
            failures: 0,
            reauthenticated: false,
            ended: false,
        })
    }

    /// The newest replay id the server reported, events or not: where to resume.
    pub fn latest_replay_id(&self) -> Option<u64> {
        self.latest_replay_id
    }

    /// The next event; `None` when the server ended the stream cleanly. Recovers from what can
    /// be recovered from before returning an error. After an error the subscription has ended
    /// (`next` returns `None`), and [`latest_replay_id`](Self::latest_replay_id) is where to
    /// resume without a gap: it never passes an event that was not returned or is not ready.
    pub async fn next(&mut self) -> Option<Result<PubSubEvent, PubSubError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            let response = match self.responses.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return None,
                Err(status) => match self.recover(status).await {
                    Ok(()) => continue,
                    Err(e) => return Some(Err(self.end(e))),
                },
            };
            self.failures = 0;
            self.reauthenticated = false;
            // Decoded first: the position moves only past events the caller will get.
            let mut decoded = Vec::with_capacity(response.events.len());
            for event in response.events {
                match self.decode(event).await {
                    Ok(event) => decoded.push(event),
                    Err(e) => return Some(Err(self.end(e))),
                }
            }
            self.ready.extend(decoded);
            if let Some(id) = replay_id(&response.latest_replay_id) {
                self.latest_replay_id = Some(id);
            }
            if response.pending_num_requested == 0 {
                let more = FetchRequest {
                    num_requested: BATCH,
                    ..Default::default()
                };
                // If the call has ended, the next read says how.
                let _ = self.requests.send(more).await;
            }
        }
    }

    fn end(&mut self, error: PubSubError) -> PubSubError {
        self.ended = true;
        error
    }

    /// Opens the stream again after `status` ended it, for as long as that is worth trying.
    async fn recover(&mut self, mut status: Status) -> Result<(), PubSubError> {
        loop {
            match recovery(&status) {
                Recovery::GiveUp => return Err(status.into()),
                Recovery::Reauthenticate if self.reauthenticated => return Err(status.into()),
                Recovery::Reauthenticate => {
                    self.session.reauthenticate(status.message()).await?;
                    self.reauthenticated = true;
                }
                Recovery::Resubscribe => {
                    let delay =
                        crate::backoff::delay(RETRY_INITIAL, RETRY_MAX, self.failures.max(1));
                    self.failures = self.failures.saturating_add(1);
                    tokio::time::sleep(delay).await;
                }
            }
            let replay = self.latest_replay_id.map_or(self.start, Replay::After);
            match open_stream(&self.session, &self.topic, replay).await {
                Ok((requests, responses)) => {
                    (self.requests, self.responses) = (requests, responses);
                    self.session.notify(&PubSubNotice::Resubscribed {
                        topic: self.topic.clone(),
                        after: self.latest_replay_id,
                        gap_possible: self.latest_replay_id.is_none()
                            && self.start == Replay::Latest,
                        reason: status.message().to_owned(),
                    });
                    return Ok(());
                }
                Err(next) => status = next,
            }
        }
    }

    async fn decode(
        &mut self,
        event: bayou_pubsub_proto::ConsumerEvent,
    ) -> Result<PubSubEvent, PubSubError> {
        let id = replay_id(&event.replay_id)
            .ok_or_else(|| PubSubError::Avro("a replay id is not 8 bytes".into()))?;
        let inner = event
            .event
            .ok_or_else(|| PubSubError::Avro(format!("event {id} has no body")))?;
        let schema = schema(&self.session, &self.schemas, &inner.schema_id).await?;
        let payload = avro::decode(&schema, &inner.payload).map_err(PubSubError::Avro)?;
        Ok(PubSubEvent {
            replay_id: id,
            id: inner.id,
            schema_id: inner.schema_id,
            payload,
        })
    }
}
