//! Writing to the stream: appends queued by the org and the engine are gathered into atomic
//! batches (JetStream ≥ 2.12, at most 1,000 messages) and acknowledged only after JetStream's
//! publish acknowledgement.
//!
//! An event is serialized once, with its replay id inside, and every node delivers those bytes.
//! So the writer must know the sequence numbers before it publishes: it predicts them (the
//! stream's last sequence + 1, + 2, …) and publishes with `Nats-Expected-Last-Sequence`, which
//! JetStream checks when the batch commits. When another node wrote first, the batch is refused
//! whole, the writer learns the new last sequence from the error, encodes again and retries:
//! optimistic concurrency, with one winner per sequence and nothing stored twice. A batch whose
//! reply was lost is looked for at its predicted sequence (by the `Bayou-Batch` header) before
//! anything is retried, so an ambiguous failure is never stored twice either.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::{HeaderMap, Subject};
use bayou_log::{LogError, NewEvent, RecordWrite};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::headers;
use super::Shared;

/// JetStream's limit on messages in one atomic batch.
pub(crate) const MAX_BATCH: usize = 1_000;
/// Tries of one batch against other nodes' writes before giving up.
const MAX_ATTEMPTS: usize = 200;

pub(crate) struct AppendRequest {
    pub events: Vec<NewEvent>,
    pub writes: Vec<RecordWrite>,
    pub reply: oneshot::Sender<Result<Vec<u64>, LogError>>,
}

impl AppendRequest {
    fn messages(&self) -> usize {
        self.events.len() + self.writes.len()
    }
}

struct Outgoing {
    subject: Subject,
    headers: HeaderMap,
    payload: Bytes,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<AppendRequest>,
    mut last: u64,
) {
    let mut held: Option<AppendRequest> = None;
    let mut created_ms = 0_i64;
    loop {
        let first = match held.take() {
            Some(request) => request,
            None => match requests.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        if first.messages() > MAX_BATCH {
            let size = first.messages();
            let _ = first.reply.send(Err(LogError::Storage(format!(
                "one write of {size} events and records is more than a cluster's atomic batch \
                 holds ({MAX_BATCH})"
            ))));
            continue;
        }
        let mut size = first.messages();
        let mut batch = vec![first];
        while let Ok(next) = requests.try_recv() {
            if size + next.messages() > MAX_BATCH {
                held = Some(next);
                break;
            }
            size += next.messages();
            batch.push(next);
        }
        created_ms = created_ms.max(bayou_protocol::time::now_millis());
        match commit(&shared, &batch, &mut last, created_ms).await {
            Ok(first_sequence) => {
                let mut sequence = first_sequence;
                let mut superseded = Vec::new();
                {
                    let mut records = shared.records.write();
                    for request in &batch {
                        sequence += request.events.len() as u64;
                        for write in &request.writes {
                            if let Some(previous) =
                                records.apply(&write.key, sequence, write.value.clone())
                            {
                                superseded.push(previous);
                            }
                            sequence += 1;
                        }
                    }
                }
                for previous in superseded.into_iter().filter(|p| *p > 0) {
                    let _ = shared.superseded.send(previous);
                }
                shared.stream_last.fetch_max(last, Ordering::Relaxed);
                let mut sequence = first_sequence;
                for request in batch {
                    let ids = (sequence..sequence + request.events.len() as u64).collect();
                    sequence += request.messages() as u64;
                    let _ = request.reply.send(Ok(ids));
                }
            }
            Err(e) => {
                for request in batch {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Builds the batch's messages with sequences from `first`: each request's events, then its
/// record writes.
fn build(shared: &Shared, batch: &[AppendRequest], first: u64, created_ms: i64) -> Vec<Outgoing> {
    let mut sequence = first;
    let mut out = Vec::new();
    for request in batch {
        for event in &request.events {
            let mut headers = HeaderMap::new();
            headers.insert(headers::CREATED, created_ms.to_string().as_str());
            if let Some(audience) = &event.audience {
                headers.insert(headers::AUDIENCE, audience.as_str());
            }
            let ttl = shared
                .policy
                .rule_for(&event.channel)
                .max_age
                .as_secs()
                .max(1);
            headers.insert(headers::NATS_TTL, format!("{ttl}s").as_str());
            out.push(Outgoing {
                subject: shared.names.event_subject(&event.channel).into(),
                headers,
                payload: (event.encode)(sequence, created_ms),
            });
            sequence += 1;
        }
        for write in &request.writes {
            let mut headers = HeaderMap::new();
            headers.insert(headers::NODE, shared.node_id.as_str());
            if write.value.is_none() {
                headers.insert(headers::OPERATION, headers::REMOVE);
            }
            out.push(Outgoing {
                subject: shared.names.record_subject(&write.key).into(),
                headers,
                payload: write.value.clone().map(Bytes::from).unwrap_or_default(),
            });
            sequence += 1;
        }
    }
    out
}

/// Publishes the batch at the next sequences, retrying when another node wrote first. Resolves
/// with the first sequence.
async fn commit(
    shared: &Shared,
    batch: &[AppendRequest],
    last: &mut u64,
    created_ms: i64,
) -> Result<u64, LogError> {
    let mut previous_attempt: Option<(String, u64)> = None;
    for attempt in 0..MAX_ATTEMPTS {
        let first = *last + 1;
        let messages = build(shared, batch, first, created_ms);
        let count = messages.len() as u64;
        let batch_id = format!("{}-{}", shared.node_id, nuid_like());
        match publish(shared, messages, *last, &batch_id).await {
            Ok(stored_last) => {
                *last = stored_last;
                return Ok(stored_last + 1 - count);
            }
            Err(Failure::WrongLast(actual)) => {
                // Did an earlier attempt whose reply was lost land after all?
                if let Some((id, predicted_last)) = previous_attempt.take() {
                    if stored_batch_at(shared, predicted_last).await.as_deref() == Some(&id) {
                        *last = predicted_last;
                        return Ok(predicted_last + 1 - count);
                    }
                }
                *last = match actual {
                    Some(actual) => actual,
                    None => stream_last(shared).await?,
                };
                if attempt > 2 {
                    // Several nodes keep colliding: step aside a little.
                    tokio::time::sleep(Duration::from_micros(200 * attempt as u64)).await;
                }
            }
            Err(Failure::Unknown(e)) => {
                let predicted_last = *last + count;
                if stored_batch_at(shared, predicted_last).await.as_deref() == Some(&batch_id) {
                    *last = predicted_last;
                    return Ok(first);
                }
                tracing::warn!("a write to the log went unanswered, trying again: {e}");
                previous_attempt = Some((batch_id, predicted_last));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(Failure::Refused(e)) => return Err(e),
        }
    }
    Err(LogError::Unavailable(
        "the log stream is too contended: the write lost the race for a sequence too often".into(),
    ))
}

enum Failure {
    /// Another write came first; the stream's last sequence, when the error said.
    WrongLast(Option<u64>),
    /// No answer: the batch may or may not be stored.
    Unknown(String),
    /// Refused: retrying will not help now.
    Refused(LogError),
}

/// Sends the messages as one atomic batch (or one plain message) expecting the stream's last
/// sequence to be `expected_last`. Resolves with the sequence of the last message stored.
async fn publish(
    shared: &Shared,
    mut messages: Vec<Outgoing>,
    expected_last: u64,
    batch_id: &str,
) -> Result<u64, Failure> {
    let count = messages.len();
    if let Some(last) = messages.last_mut() {
        last.headers.insert(headers::BATCH, batch_id);
    }
    if let Some(first) = messages.first_mut() {
        first.headers.insert(
            headers::EXPECTED_LAST_SEQUENCE,
            expected_last.to_string().as_str(),
        );
    }
    if count == 1 {
        let Some(only) = messages.pop() else {
            return Err(Failure::Refused(LogError::Storage("empty batch".into())));
        };
        let reply = request(shared, only).await?;
        return acknowledged(&reply);
    }
    for (index, mut message) in messages.into_iter().enumerate() {
        let number = index + 1;
        message.headers.insert(headers::BATCH_ID, batch_id);
        message
            .headers
            .insert(headers::BATCH_SEQUENCE, number.to_string().as_str());
        if number == count {
            message.headers.insert(headers::BATCH_COMMIT, "1");
            let reply = request(shared, message).await?;
            return acknowledged(&reply);
        }
        if number == 1 {
            // The first message opens the batch; the server answers with an empty reply, or an
            // error when it refuses to start it.
            let reply = request(shared, message).await?;
            if !reply.is_empty() {
                acknowledged(&reply)?;
            }
        } else {
            shared
                .client
                .publish_with_headers(message.subject, message.headers, message.payload)
                .await
                .map_err(|e| Failure::Unknown(e.to_string()))?;
        }
    }
    Err(Failure::Refused(LogError::Storage("empty batch".into())))
}

async fn request(shared: &Shared, message: Outgoing) -> Result<Bytes, Failure> {
    use async_nats::RequestErrorKind;
    match shared
        .client
        .request_with_headers(message.subject, message.headers, message.payload)
        .await
    {
        Ok(reply) => Ok(reply.payload),
        Err(e) => match e.kind() {
            RequestErrorKind::NoResponders => Err(Failure::Refused(LogError::Unavailable(
                "no JetStream server answers for the log stream".into(),
            ))),
            RequestErrorKind::TimedOut => Err(Failure::Unknown(e.to_string())),
            _ => Err(Failure::Unknown(e.to_string())),
        },
    }
}

#[derive(serde::Deserialize)]
struct Ack {
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// JetStream's error code for a failed `Nats-Expected-Last-Sequence` check.
const WRONG_LAST_SEQUENCE: u64 = 10071;

fn acknowledged(reply: &[u8]) -> Result<u64, Failure> {
    let ack: Ack = serde_json::from_slice(reply).map_err(|e| {
        Failure::Unknown(format!(
            "unreadable acknowledgement ({e}): {}",
            String::from_utf8_lossy(reply)
        ))
    })?;
    if let Some(error) = ack.error {
        if error.err_code == WRONG_LAST_SEQUENCE {
            let actual = error
                .description
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok());
            return Err(Failure::WrongLast(actual));
        }
        let refused = format!(
            "JetStream refused the write ({}): {}",
            error.code, error.description
        );
        return Err(Failure::Refused(if error.code == 503 {
            LogError::Unavailable(refused)
        } else {
            LogError::Storage(refused)
        }));
    }
    ack.seq
        .ok_or_else(|| Failure::Unknown("acknowledgement without a sequence".into()))
}

/// The `Bayou-Batch` header of the message at `sequence`, if there is one.
async fn stored_batch_at(shared: &Shared, sequence: u64) -> Option<String> {
    let message = shared.stream.direct_get(sequence).await.ok()?;
    message
        .headers
        .get(headers::BATCH)
        .map(|v| v.as_str().to_owned())
}

async fn stream_last(shared: &Shared) -> Result<u64, LogError> {
    let info =
        shared.stream.get_info().await.map_err(|e| {
            LogError::Unavailable(format!("cannot read the log stream's state: {e}"))
        })?;
    Ok(info.state.last_sequence)
}

/// A process-unique, time-ordered batch id suffix.
fn nuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", bayou_protocol::time::now_millis())
}

/// Stores `value` at `key` only if the key never had a record (JetStream checks the key's
/// subject has no message); otherwise resolves with the record there.
pub(crate) async fn insert_if_absent(
    shared: &Shared,
    key: Vec<u8>,
    value: Vec<u8>,
) -> Result<Vec<u8>, LogError> {
    let subject = shared.names.record_subject(&key);
    let mut headers = HeaderMap::new();
    headers.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
    let reply = shared
        .client
        .request_with_headers(subject.clone(), headers, Bytes::from(value.clone()))
        .await
        .map_err(|e| LogError::Unavailable(e.to_string()))?;
    let ack: Ack = serde_json::from_slice(&reply.payload)
        .map_err(|e| LogError::Storage(format!("unreadable acknowledgement: {e}")))?;
    match (ack.seq, ack.error) {
        (Some(sequence), None) => {
            shared
                .records
                .write()
                .apply(&key, sequence, Some(value.clone()));
            Ok(value)
        }
        (_, Some(_)) => {
            let message = shared
                .stream
                .direct_get_last_for_subject(subject)
                .await
                .map_err(|e| LogError::Storage(format!("cannot read record: {e}")))?;
            let stored = message.payload.to_vec();
            shared
                .records
                .write()
                .apply(&key, message.sequence, Some(stored.clone()));
            Ok(stored)
        }
        (None, None) => Err(LogError::Storage(
            "acknowledgement without a sequence".into(),
        )),
    }
}

/// Deletes record messages a newer write of the same key superseded, so the stream keeps one
/// message per record (plus its events' retention) instead of every version ever written.
pub(crate) async fn delete_superseded(
    shared: Weak<Shared>,
    mut sequences: mpsc::UnboundedReceiver<u64>,
) {
    while let Some(sequence) = sequences.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.stream.delete_message(sequence).await {
            tracing::debug!(
                sequence,
                "could not delete a superseded record message: {e}"
            );
        }
    }
}
