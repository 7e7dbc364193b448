//! Writing to the stream. An append is acknowledged to its caller only once JetStream has
//! acknowledged it (stored, and replicated as the stream's replicas say).
//!
//! - One message (a single event, or a single record write): published at once with a
//!   `Nats-Msg-Id`, many in flight together; a publish whose acknowledgement was lost is sent
//!   again with the same id, and JetStream's duplicate window turns it into the original's
//!   acknowledgement instead of a second copy.
//! - Several messages (a record change with the events it causes, a batch of publishes): one
//!   atomic batch (JetStream ≥ 2.12, at most 1,000 messages), stored whole or not at all.
//!
//! Events carry a placeholder where their replay id goes ([`super::placeholder`]), so no
//! writer ever needs to know a sequence number before JetStream assigns it, and nodes never
//! race each other for one.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use async_nats::jetstream::message::PublishMessage;
use async_nats::{HeaderMap, Subject};
use bayou_log::{LogError, NewEvent, RecordWrite};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{headers, placeholder, Shared};

/// JetStream's limit on messages in one atomic batch.
pub(crate) const MAX_BATCH: usize = 1_000;
/// Sends of one message whose acknowledgement went missing, before giving up.
const MAX_SENDS: usize = 3;
/// How long a resend that JetStream found still in process (its first send waits for a
/// quorum) waits before asking again, and how many times: 5 s in all, about what a stream
/// takes to elect a new leader.
const IN_PROCESS_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_IN_PROCESS_WAITS: u32 = 50;

pub(crate) struct AppendRequest {
    pub events: Vec<NewEvent>,
    pub writes: Vec<RecordWrite>,
    pub reply: oneshot::Sender<Result<Vec<u64>, LogError>>,
}

struct Outgoing {
    subject: Subject,
    headers: Headers,
    payload: Bytes,
}

/// A message's headers. An event's are kept as their values and made into a map for each
/// send, so that a resend (its acknowledgement lost) needs no copy of the first send's map:
/// every header is a few allocations, per event.
enum Headers {
    Event {
        /// [`headers::EVENT`]'s value.
        event: String,
        /// [`headers::NATS_TTL`]'s value, one per retention rule.
        ttl: Arc<str>,
        audience: Option<String>,
        /// [`headers::NATS_MSG_ID`]'s value, when sent on its own.
        id: Option<String>,
    },
    Map(HeaderMap),
}

impl Headers {
    fn to_map(&self) -> HeaderMap {
        match self {
            Headers::Event {
                event,
                ttl,
                audience,
                id,
            } => {
                let mut map = HeaderMap::new();
                map.insert(headers::EVENT, event.as_str());
                map.insert(headers::NATS_TTL, &**ttl);
                if let Some(audience) = audience {
                    map.insert(headers::AUDIENCE, audience.as_str());
                }
                if let Some(id) = id {
                    map.insert(headers::NATS_MSG_ID, id.as_str());
                }
                map
            }
            Headers::Map(map) => map.clone(),
        }
    }

    fn into_map(self) -> HeaderMap {
        match self {
            Headers::Map(map) => map,
            event => event.to_map(),
        }
    }

    fn set_id(&mut self, value: String) {
        match self {
            Headers::Event { id, .. } => *id = Some(value),
            Headers::Map(map) => map.insert(headers::NATS_MSG_ID, value.as_str()),
        }
    }
}

/// [`headers::NATS_TTL`]'s value for each of the policy's retention rules, in its order.
fn ttl_values(policy: &bayou_log::RetentionPolicy) -> Vec<Arc<str>> {
    policy
        .rules()
        .iter()
        .map(|rule| format!("{}s", rule.max_age.as_secs().max(1)).into())
        .collect()
}

/// Takes appends in order and sends them; acknowledgements are awaited off this loop, so many
/// appends are in flight at once.
pub(crate) async fn run(shared: Arc<Shared>, mut requests: mpsc::Receiver<AppendRequest>) {
    let mut created_ms = 0_i64;
    let ttls = ttl_values(&shared.policy);
    let ids = MessageIds::new(&shared.node_id);
    while let Some(request) = requests.recv().await {
        let size = request.events.len() + request.writes.len();
        if size > MAX_BATCH {
            let _ = request.reply.send(Err(LogError::Storage(format!(
                "one write of {size} events and records is more than a cluster's atomic batch \
                 holds ({MAX_BATCH})"
            ))));
            continue;
        }
        created_ms = created_ms.max(bayou_protocol::time::now_millis());
        let messages = match build(&shared, &ttls, &request, created_ms) {
            Ok(messages) => messages,
            Err(e) => {
                let _ = request.reply.send(Err(e));
                continue;
            }
        };
        if !connected(&shared) {
            // Said at once rather than after the acknowledgement's timeout: the caller (a REST
            // client, a Bayeux publisher) can retry elsewhere or later.
            let _ = request.reply.send(Err(LogError::Unavailable(
                "not connected to NATS: the write was not stored".into(),
            )));
            continue;
        }
        let shared = Arc::clone(&shared);
        if request.writes.is_empty() || messages.len() == 1 {
            // Events only (or one record write): each message on its own, sent now and in
            // order, acknowledged whenever JetStream answers; many appends in flight at once.
            // An event stored without its neighbours is still an event its publisher may get
            // an error for — never one lost after an acknowledgement.
            let mut pending = Vec::with_capacity(messages.len());
            let mut failed = None;
            for message in messages {
                match publish_one(&shared, message, ids.next()).await {
                    Ok(acknowledgement) => pending.push(acknowledgement),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            tokio::spawn(async move {
                let mut sequences = Vec::with_capacity(pending.len());
                for acknowledgement in pending {
                    match acknowledgement.await {
                        Ok(sequence) => sequences.push(sequence),
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    }
                }
                finish(&shared, request, failed.map_or(Ok(sequences), Err));
            });
        } else {
            // A record change and the events it causes: one atomic batch, sent whole before
            // the next append so that its messages stay together.
            let count = messages.len() as u64;
            let result = publish_batch(&shared, messages)
                .await
                .map(|last| (last + 1 - count..=last).collect());
            finish(&shared, request, result);
        }
    }
}

fn connected(shared: &Shared) -> bool {
    shared.client.connection_state() == async_nats::connection::State::Connected
}

/// Answers the appender and, for record writes, updates this node's copy of the records.
/// `sequences` are the stream sequences of the request's messages: its events', then its
/// record writes'.
fn finish(shared: &Shared, request: AppendRequest, sequences: Result<Vec<u64>, LogError>) {
    let mut sequences = match sequences {
        Ok(sequences) => sequences,
        Err(e) => {
            let _ = request.reply.send(Err(e));
            return;
        }
    };
    let writes = sequences.split_off(request.events.len().min(sequences.len()));
    let mut superseded = Vec::new();
    {
        let mut records = shared.records.write();
        for (sequence, write) in writes.iter().zip(&request.writes) {
            if let Some(previous) = records.apply(&write.key, *sequence, write.value.clone()) {
                superseded.push(previous);
            }
        }
    }
    for previous in superseded.into_iter().filter(|p| *p > 0) {
        let _ = shared.superseded.send(previous);
    }
    if let Some(last) = sequences.iter().chain(&writes).max() {
        shared.stream_last.fetch_max(*last, Ordering::Relaxed);
    }
    let _ = request.reply.send(Ok(sequences));
}

/// The request's messages: its events (with the placeholder), then its record writes.
fn build(
    shared: &Shared,
    ttls: &[Arc<str>],
    request: &AppendRequest,
    created_ms: i64,
) -> Result<Vec<Outgoing>, LogError> {
    let mut out = Vec::with_capacity(request.events.len() + request.writes.len());
    for event in &request.events {
        let (payload, offsets) = placeholder::encode(&event.encode, created_ms)
            .map_err(|e| LogError::Storage(format!("{}: {e}", event.channel)))?;
        out.push(Outgoing {
            subject: shared.names.event_subject(&event.channel).into(),
            headers: Headers::Event {
                event: headers::event_value(created_ms, &offsets),
                ttl: Arc::clone(&ttls[shared.policy.rule_index(&event.channel)]),
                audience: event.audience.as_ref().map(|a| a.as_str().to_owned()),
                id: None,
            },
            payload,
        });
    }
    for write in &request.writes {
        let mut headers = HeaderMap::new();
        headers.insert(headers::NODE, shared.node_id.as_str());
        if write.value.is_none() {
            headers.insert(headers::OPERATION, headers::REMOVE);
        }
        if let Some(version) = write.expected_version {
            // The record's version is the sequence of its subject's newest message: JetStream
            // refuses the write (and, in a batch, the whole batch) if another came since.
            headers.insert(
                headers::EXPECTED_LAST_SUBJECT_SEQUENCE,
                version.to_string().as_str(),
            );
        }
        out.push(Outgoing {
            subject: shared.names.record_subject(&write.key).into(),
            headers: Headers::Map(headers),
            payload: write.value.clone().map(Bytes::from).unwrap_or_default(),
        });
    }
    Ok(out)
}

type Acknowledgement =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, LogError>> + Send>>;

/// Sends one message; resolves (once sent) to the future of its acknowledgement, which sends
/// it again with the same `Nats-Msg-Id` if the acknowledgement does not come.
async fn publish_one(
    shared: &Arc<Shared>,
    mut message: Outgoing,
    id: String,
) -> Result<Acknowledgement, LogError> {
    message.headers.set_id(id);
    let first = send(shared, &message).await?;
    let shared = Arc::clone(shared);
    Ok(Box::pin(async move {
        let mut pending = first;
        let (mut resends, mut in_process_waits) = (0, 0);
        loop {
            let e = match pending.await {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) => e,
            };
            use async_nats::jetstream::context::PublishErrorKind as Kind;
            // A resend while the first send still waits for its quorum: JetStream answers 409
            // (10158) and stores the message once; asked again later with the same id, it
            // acknowledges the stored one. Failing here would tell the publisher its event was
            // lost when it was stored.
            let in_process = jetstream_error(&e).map(async_nats::jetstream::Error::error_code)
                == Some(async_nats::jetstream::ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT);
            if in_process && in_process_waits < MAX_IN_PROCESS_WAITS {
                in_process_waits += 1;
                tokio::time::sleep(IN_PROCESS_WAIT).await;
            } else if matches!(e.kind(), Kind::TimedOut | Kind::BrokenPipe)
                && connected(&shared)
                && resends < MAX_SENDS - 1
            {
                resends += 1;
                tracing::warn!("a write's acknowledgement did not come, sending it again: {e}");
            } else {
                return Err(publish_error(e));
            }
            pending = send(&shared, &message).await?;
        }
    }))
}

async fn send(
    shared: &Shared,
    message: &Outgoing,
) -> Result<async_nats::jetstream::context::PublishAckFuture, LogError> {
    let publish = PublishMessage::build()
        .headers(message.headers.to_map())
        .payload(message.payload.clone());
    shared
        .jetstream
        .send_publish(message.subject.clone(), publish)
        .await
        .map_err(publish_error)
}

/// JetStream's own answer to a failed publish (its status and error code), if it gave one.
fn jetstream_error(
    e: &async_nats::jetstream::context::PublishError,
) -> Option<&async_nats::jetstream::Error> {
    use std::error::Error as _;
    e.source()
        .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>())
}

fn publish_error(e: async_nats::jetstream::context::PublishError) -> LogError {
    use async_nats::jetstream::context::PublishErrorKind as Kind;
    // JetStream's own status: 503 (no quorum, no leader) and 409 for a message id still being
    // processed (a resend while the first attempt waits for a quorum) pass with time.
    let status = jetstream_error(&e).map(async_nats::jetstream::Error::code);
    let transient = matches!(
        e.kind(),
        Kind::TimedOut | Kind::BrokenPipe | Kind::StreamNotFound | Kind::MaxAckPending
    ) || matches!(status, Some(503 | 409));
    if e.kind() == Kind::WrongLastSequence {
        LogError::Conflict(format!("JetStream did not store the write: {e}"))
    } else if transient {
        LogError::Unavailable(format!("JetStream did not store the write: {e}"))
    } else {
        LogError::Storage(format!("JetStream refused the write: {e}"))
    }
}

/// Sends messages as one atomic batch. Resolves with the sequence of the last one stored.
async fn publish_batch(shared: &Shared, messages: Vec<Outgoing>) -> Result<u64, LogError> {
    let count = messages.len();
    let batch_id = MessageIds::new(&shared.node_id).next();
    for (index, message) in messages.into_iter().enumerate() {
        let number = index + 1;
        let subject = message.subject;
        let payload = message.payload;
        let mut headers = message.headers.into_map();
        headers.insert(headers::BATCH_ID, batch_id.as_str());
        headers.insert(headers::BATCH_SEQUENCE, number.to_string().as_str());
        if number == count {
            headers.insert(headers::BATCH_COMMIT, "1");
            let reply = request(shared, subject, headers, payload).await?;
            return acknowledged(&reply);
        }
        if number == 1 {
            // The first message opens the batch: the server answers with an empty reply, or an
            // error when it refuses to start it.
            let reply = request(shared, subject, headers, payload).await?;
            if !reply.is_empty() {
                acknowledged(&reply)?;
            }
        } else {
            shared
                .client
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| LogError::Unavailable(format!("cannot send to NATS: {e}")))?;
        }
    }
    Err(LogError::Storage("empty batch".into()))
}

async fn request(
    shared: &Shared,
    subject: Subject,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<Bytes, LogError> {
    shared
        .client
        .request_with_headers(subject, headers, payload)
        .await
        .map(|reply| reply.payload)
        .map_err(|e| LogError::Unavailable(format!("JetStream did not store the write: {e}")))
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
    /// JetStream's own error number.
    #[serde(default)]
    err_code: u32,
    #[serde(default)]
    description: String,
}

/// JetStream's error number for a write whose `Nats-Expected-Last-Subject-Sequence` is not the
/// subject's last sequence.
const WRONG_LAST_SEQUENCE: u32 = 10_071;

fn acknowledged(reply: &[u8]) -> Result<u64, LogError> {
    let ack: Ack = serde_json::from_slice(reply).map_err(|e| {
        LogError::Storage(format!(
            "unreadable acknowledgement ({e}): {}",
            String::from_utf8_lossy(reply)
        ))
    })?;
    if let Some(error) = ack.error {
        let refused = format!(
            "JetStream refused the write ({}): {}",
            error.code, error.description
        );
        return Err(if error.err_code == WRONG_LAST_SEQUENCE {
            LogError::Conflict(refused)
        } else if error.code == 503 {
            LogError::Unavailable(refused)
        } else {
            LogError::Storage(refused)
        });
    }
    ack.seq
        .ok_or_else(|| LogError::Storage("acknowledgement without a sequence".into()))
}

/// Process-unique message ids (`Nats-Msg-Id`, batch ids): the node's id and the time the
/// writer started, made once, then a counter.
struct MessageIds {
    prefix: String,
}

impl MessageIds {
    fn new(node_id: &str) -> Self {
        Self {
            prefix: format!("{node_id}-{:x}-", bayou_protocol::time::now_millis()),
        }
    }

    fn next(&self) -> String {
        use std::fmt::Write as _;
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(self.prefix.len() + 16);
        id.push_str(&self.prefix);
        let _ = write!(id, "{n:x}");
        id
    }
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
    headers.insert(headers::NODE, shared.node_id.as_str());
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
/// message per record instead of every version ever written.
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
