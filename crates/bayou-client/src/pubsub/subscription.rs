//! One `Subscribe` stream: asks for a batch of events, asks for the next batch when the server
//! owes none, decodes each event, and remembers the latest replay id the server reported (so
//! a caller that stores it resumes without a gap, even after an idle period).

use std::collections::VecDeque;
use std::sync::Arc;

use bayou_pubsub_proto::{FetchRequest, FetchResponse, ReplayPreset};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{avro, schema, GrpcClient, PubSubError, Schemas};

/// Events asked for at a time (Salesforce's most).
const BATCH: i32 = 100;

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
    grpc: GrpcClient,
    schemas: Schemas,
    requests: mpsc::Sender<FetchRequest>,
    responses: Streaming<FetchResponse>,
    ready: VecDeque<PubSubEvent>,
    latest_replay_id: Option<u64>,
}

/// The number in a replay id's 8 bytes.
pub(crate) fn replay_id(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

impl PubSubSubscription {
    pub(crate) async fn open(
        mut grpc: GrpcClient,
        schemas: Schemas,
        topic: &str,
        replay: Replay,
    ) -> Result<Self, PubSubError> {
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
        requests
            .send(first)
            .await
            .map_err(|_| PubSubError::Connect("the request stream closed".into()))?;
        let responses = grpc
            .subscribe(ReceiverStream::new(outbound))
            .await?
            .into_inner();
        Ok(Self {
            grpc,
            schemas,
            requests,
            responses,
            ready: VecDeque::new(),
            latest_replay_id: None,
        })
    }

    /// The newest replay id the server reported, events or not: where to resume.
    pub fn latest_replay_id(&self) -> Option<u64> {
        self.latest_replay_id
    }

    /// The next event; `None` when the server ended the stream cleanly.
    pub async fn next(&mut self) -> Option<Result<PubSubEvent, PubSubError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            let response = match self.responses.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return None,
                Err(status) => return Some(Err(status.into())),
            };
            if let Some(id) = replay_id(&response.latest_replay_id) {
                self.latest_replay_id = Some(id);
            }
            for event in response.events {
                match self.decode(event).await {
                    Ok(event) => self.ready.push_back(event),
                    Err(e) => return Some(Err(e)),
                }
            }
            if response.pending_num_requested == 0 {
                let more = FetchRequest {
                    num_requested: BATCH,
                    ..Default::default()
                };
                if self.requests.send(more).await.is_err() {
                    return None;
                }
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
        let schema = schema(&mut self.grpc, &Arc::clone(&self.schemas), &inner.schema_id).await?;
        let payload = avro::decode(&schema, &inner.payload).map_err(PubSubError::Avro)?;
        Ok(PubSubEvent {
            replay_id: id,
            id: inner.id,
            schema_id: inner.schema_id,
            payload,
        })
    }
}
