//! `Subscribe`: a pull subscription. The client's `FetchRequest`s add credits
//! (`num_requested`, at most 100 outstanding); the server sends events while it owes some, and
//! every response says how many it still owes (`pending_num_requested`) and the newest replay
//! id it has looked at (`latest_replay_id`), so an idle client still knows where to resume.
//!
//! A subscription is a cursor on the log, not a queue: it reads from the log (whose newest
//! events are in memory) only what the client has asked for, so a slow client costs nothing
//! but its cursor, and memory per subscription is bounded by one response
//! ([`MAX_RESPONSE_BYTES`]) waiting for the client and the one being written.

use std::sync::Arc;
use std::time::Duration;

use bayou_log::{ChannelFilter, PositionStore, ReadBatch};
use tokio::time::Instant;
use tonic::{Code, Status, Streaming};

use crate::auth::{self, Caller};
use crate::flow::{Flow, TopicFlow};
use crate::proto::{
    CommitReplayRequest, CommitReplayResponse, ConsumerEvent, Error as CommitError, ErrorCode,
    FetchRequest, ReplayPreset,
};
use crate::pull::Yielder;
use crate::status::{codes, failure};
use crate::topics::{self, Topic};
use crate::{replay_id, stopping, Inner};

/// Most events a client may be owed at once (Salesforce's limit).
pub const MAX_PENDING: i32 = 100;

/// A response stops taking events past this size, so it stays under the 4 MB that gRPC clients
/// accept by default (one event alone may reach Salesforce's 1 MB event limit).
pub const MAX_RESPONSE_BYTES: usize = 3 * 1024 * 1024;

/// Records examined per log read, so that a topic with rare events among many others cannot
/// make one read long.
const SCAN_LIMIT: usize = 10_000;

/// A subscription whose first request was read and whose start position is fixed: every event
/// stored from now on reaches it (a LATEST subscription included).
pub(crate) struct Started<F: Flow> {
    pub(crate) first: F::Request,
    pub(crate) cursor: Cursor,
    pub(crate) counted: Counted,
    /// Where commits go (managed subscriptions only).
    pub(crate) commits: Option<Commits>,
}

impl<F: Flow> Started<F> {
    /// A stream on `topic` reading after `after`, with the first request's credits.
    pub(crate) fn new(
        inner: &Inner,
        first: F::Request,
        topic: Topic,
        after: u64,
        commits: Option<Commits>,
    ) -> Result<Self, Status> {
        let pending = add_credits::<F>(0, F::credits(&first))?;
        Ok(Self {
            first,
            cursor: Cursor {
                topic,
                after,
                pending,
            },
            counted: Counted::new(inner),
            commits,
        })
    }
}

/// A managed subscription's committed position, and its claim on being the one stream reading
/// the subscription (released when the stream ends).
pub(crate) struct Commits {
    pub(crate) subscription_id: String,
    pub(crate) positions: Arc<dyn PositionStore>,
    pub(crate) claim: crate::managed::Claim,
}

/// Reads the first request and fixes where the subscription starts, before the call is
/// answered: a client that has the response headers knows its subscription is in place. A
/// bad first request fails the call itself.
pub(crate) async fn start(
    inner: &Inner,
    inbound: &mut Streaming<FetchRequest>,
) -> Result<Started<TopicFlow>, Status> {
    let first = first_request(inner, inbound).await?;
    let topic = topics::resolve(&inner.org, &first.topic_name).await?;
    let after = start_after(inner, &topic, &first).await?;
    Started::new(inner, first, topic, after, None)
}

/// The first request of a stream, waited for at most the idle timeout.
pub(crate) async fn first_request<R: prost::Message + Default>(
    inner: &Inner,
    inbound: &mut Streaming<R>,
) -> Result<R, Status> {
    tokio::time::timeout(inner.config.idle_timeout, inbound.message())
        .await
        .map_err(|_| {
            failure(
                Code::Unavailable,
                codes::IDLE,
                format!(
                    "No request came within {} s of the call opening.",
                    inner.config.idle_timeout.as_secs()
                ),
            )
        })??
        .ok_or_else(|| Status::cancelled("the client closed the stream before any request"))
}

/// Runs a started subscription until the client leaves or it fails; a failure ends the stream
/// with its status.
pub(crate) async fn run<F: Flow>(
    inner: Arc<Inner>,
    caller: Caller,
    started: Started<F>,
    mut inbound: Streaming<F::Request>,
    out: Yielder<Result<F::Response, Status>>,
) {
    let Started {
        first,
        cursor,
        counted,
        commits,
    } = started;
    let served = serve::<F>(
        &inner,
        &caller,
        &first,
        cursor,
        commits.as_ref(),
        &mut inbound,
        &out,
    )
    .await;
    if let Err(status) = served {
        out.send(Err(status)).await;
    }
    drop(counted);
}

/// Counts a subscription in `bayou_pubsub_subscriptions`, and as a reader of the converted
/// events' cache, from the moment its start position is fixed (an event published after that
/// reaches a LATEST subscription) until it ends.
pub(crate) struct Counted {
    _reader: crate::convert::Reader,
}

impl Counted {
    pub(crate) fn new(inner: &Inner) -> Self {
        metrics::gauge!("bayou_pubsub_subscriptions").increment(1.0);
        Counted {
            _reader: inner.cache.reader(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!("bayou_pubsub_subscriptions").decrement(1.0);
    }
}

pub(crate) struct Cursor {
    pub(crate) topic: Topic,
    /// The last replay id looked at: events after it are next.
    pub(crate) after: u64,
    /// Events the client is owed.
    pub(crate) pending: i32,
}

async fn serve<F: Flow>(
    inner: &Inner,
    caller: &Caller,
    first: &F::Request,
    mut cursor: Cursor,
    commits: Option<&Commits>,
    inbound: &mut Streaming<F::Request>,
    out: &Yielder<Result<F::Response, Status>>,
) -> Result<(), Status> {
    let mut head = inner.log.watch_head();
    let mut drops = inner.engine.drop_signal();
    let mut delays = inner.engine.delay_signal();
    let mut shutdown = inner.engine.shutdown_signal();
    let mut client_open = true;
    let mut last_sent = Instant::now();
    let mut idle_since = (cursor.pending == 0).then(Instant::now);
    let renew_every = inner.config.managed_claim / 3;
    let mut claim_renewed = Instant::now();
    loop {
        if !caller.is_live(&inner.org) {
            return Err(auth::expired());
        }
        let token_checked = Instant::now();
        let mut due_at = None;
        if cursor.pending > 0 {
            head.borrow_and_update();
            match deliver::<F>(inner, &mut cursor, out).await? {
                Delivered::Sent => {
                    last_sent = Instant::now();
                    if cursor.pending == 0 {
                        idle_since = Some(Instant::now());
                    }
                    continue;
                }
                Delivered::More => continue,
                Delivered::AtHead => {}
                Delivered::NotYetDue(at) => due_at = Some(at),
            }
        }
        if !client_open && cursor.pending == 0 {
            return Ok(());
        }
        let keepalive_at = last_sent + inner.config.keepalive;
        let idle_deadline = idle_since.map(|since| since + inner.config.idle_timeout);
        tokio::select! {
            request = inbound.message(), if client_open => match request {
                Ok(Some(request)) => {
                    if let Some(mismatch) = F::mismatch(first, &request) {
                        return Err(failure(Code::InvalidArgument, codes::TOPIC_MISMATCH, mismatch));
                    }
                    cursor.pending = add_credits::<F>(cursor.pending, F::credits(&request))?;
                    if cursor.pending > 0 {
                        idle_since = None;
                    }
                    if let (Some(commit), Some(commits)) = (F::commit(&request), commits) {
                        let reply = commit_position(commits, commit).await;
                        send(out, response::<F>(&cursor, Vec::new(), Some(reply))).await;
                        last_sent = Instant::now();
                    }
                }
                // The client closed its side: what it is owed is still sent.
                Ok(None) => client_open = false,
                Err(status) => return crate::size_limit::refused(&status).map_or(Ok(()), Err),
            },
            changed = head.changed(), if cursor.pending > 0 && due_at.is_none() => {
                if changed.is_err() {
                    return Err(failure(Code::Unavailable, codes::UNAVAILABLE, "The Pub/Sub API service is unavailable."));
                }
                // On a busy node, let more events gather for this stream's next response.
                if let Some(at) = inner.pace.next_read(last_sent) {
                    tokio::time::sleep_until(at).await;
                }
            }
            () = sleep_until(due_at) => {}
            // The delay fault was changed or cleared: what is held may be due now.
            _ = delays.changed() => {}
            () = tokio::time::sleep_until(keepalive_at), if cursor.pending > 0 => {
                send(out, response::<F>(&cursor, Vec::new(), None)).await;
                last_sent = Instant::now();
            }
            () = sleep_until(idle_deadline) => {
                return Err(failure(
                    Code::Unavailable,
                    codes::IDLE,
                    format!("The subscription was closed: no events were requested for {} s.", inner.config.idle_timeout.as_secs()),
                ));
            }
            () = tokio::time::sleep_until(token_checked + inner.config.token_check) => {}
            () = tokio::time::sleep_until(claim_renewed + renew_every), if commits.is_some() => {
                claim_renewed = Instant::now();
                if let Some(commits) = commits {
                    if !commits.claim.renew(inner.config.managed_claim).await? {
                        return Err(failure(
                            Code::AlreadyExists,
                            codes::MANAGED_ACTIVE,
                            "Another stream has taken over the managed subscription.",
                        ));
                    }
                }
            }
            _ = drops.changed() => {
                return Err(failure(Code::Unavailable, codes::UNAVAILABLE, "The connection was dropped by the server; subscribe again."));
            }
            () = stopping(&mut shutdown) => {
                return Err(failure(Code::Unavailable, codes::UNAVAILABLE, "The server is shutting down; subscribe again."));
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Stores a commit, and says how it went (a failed commit does not end the stream).
async fn commit_position(commits: &Commits, request: &CommitReplayRequest) -> CommitReplayResponse {
    let process_time = bayou_protocol::time::now_millis();
    let failed = |msg: String| CommitReplayResponse {
        commit_request_id: request.commit_request_id.clone(),
        replay_id: request.replay_id.clone(),
        error: Some(CommitError {
            code: ErrorCode::Commit.into(),
            msg,
        }),
        process_time,
    };
    let Some(replay_id) = replay_id::decode(&request.replay_id) else {
        return failed("The replay id to commit is not 8 bytes.".into());
    };
    match commits
        .positions
        .commit(&commits.subscription_id, replay_id)
        .await
    {
        Ok(()) => {
            metrics::counter!("bayou_pubsub_commits_total").increment(1);
            CommitReplayResponse {
                commit_request_id: request.commit_request_id.clone(),
                replay_id: request.replay_id.clone(),
                error: None,
                process_time,
            }
        }
        Err(e) => failed(format!("The commit could not be stored: {e}")),
    }
}

/// Where a subscription starts: after which replay id.
async fn start_after(inner: &Inner, topic: &Topic, first: &FetchRequest) -> Result<u64, Status> {
    let floor = inner.log.retention_floor(&topic.channel);
    match ReplayPreset::try_from(first.replay_preset) {
        Ok(ReplayPreset::Latest) => Ok(inner.log.head()),
        Ok(ReplayPreset::Earliest) => Ok(floor),
        Ok(ReplayPreset::Custom) if first.replay_id.is_empty() => Err(failure(
            Code::InvalidArgument,
            codes::REPLAY_ID_MISSING,
            "The Replay ID validation failed: the replay preset is CUSTOM and no replay_id was given.",
        )),
        Ok(ReplayPreset::Custom) => {
            let Some(id) = replay_id::decode(&first.replay_id) else {
                return Err(failure(
                    Code::InvalidArgument,
                    codes::REPLAY_ID_CORRUPTED,
                    "The Replay ID validation failed. Ensure that the Replay ID is valid: it is not 8 bytes.",
                ));
            };
            // A client moving from a node a little ahead of this one.
            inner.log.catch_up(id, Duration::from_secs(2)).await.ok();
            if id > inner.log.head() {
                return Err(failure(
                    Code::InvalidArgument,
                    codes::REPLAY_ID_CORRUPTED,
                    format!(
                        "The Replay ID validation failed: {id} is newer than the newest event."
                    ),
                ));
            }
            if id < floor {
                return Err(failure(
                    Code::InvalidArgument,
                    codes::REPLAY_ID_CORRUPTED,
                    format!("The Replay ID validation failed: {id} is outside the retention window; events after it are gone. Subscribe with EARLIEST or LATEST."),
                ));
            }
            Ok(id)
        }
        Err(_) => Err(failure(
            Code::InvalidArgument,
            codes::REPLAY_ID_CORRUPTED,
            format!("Unknown replay preset {}.", first.replay_preset),
        )),
    }
}

/// Adds a request's credits to those owed: at most [`MAX_PENDING`] outstanding.
pub(crate) fn add_credits<F: Flow>(pending: i32, requested: i32) -> Result<i32, Status> {
    if requested < F::MIN_CREDITS {
        return Err(failure(
            Code::InvalidArgument,
            F::CREDITS_INVALID,
            format!(
                "num_requested must be between {} and {MAX_PENDING}, not {requested}.",
                F::MIN_CREDITS
            ),
        ));
    }
    Ok(pending.saturating_add(requested).min(MAX_PENDING))
}

enum Delivered {
    /// A response went out.
    Sent,
    /// Nothing to send yet, but the log has more to look at.
    More,
    /// Nothing more in the log.
    AtHead,
    /// The next event is held back (a delivery delay fault) until then.
    NotYetDue(Instant),
}

async fn deliver<F: Flow>(
    inner: &Inner,
    cursor: &mut Cursor,
    out: &Yielder<Result<F::Response, Status>>,
) -> Result<Delivered, Status> {
    let wanted = usize::try_from(cursor.pending).unwrap_or(0);
    let batch: ReadBatch = inner
        .log
        .read(
            cursor.after,
            ChannelFilter::Pattern(cursor.topic.channel.clone()),
            wanted,
            SCAN_LIMIT,
        )
        .await
        .map_err(|e| {
            failure(
                Code::Unavailable,
                codes::UNAVAILABLE,
                format!("The event log cannot be read: {e}"),
            )
        })?;
    let delay = inner.engine.delivery_delay();
    let now_ms = bayou_protocol::time::now_millis();
    let mut events = Vec::with_capacity(batch.events.len());
    let mut bytes = 0;
    let mut last = cursor.after;
    let mut held_until = None;
    let mut exhausted = false;
    for stored in &batch.events {
        let due_ms = stored
            .created_ms
            .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        if !delay.is_zero() && due_ms > now_ms {
            let wait = u64::try_from(due_ms - now_ms).unwrap_or(0);
            held_until = Some(Instant::now() + Duration::from_millis(wait));
            break;
        }
        // Converted (once per event, shared) before it is measured: the response's size is
        // its datums', not the stored JSON's.
        let event = inner
            .cache
            .consumer_event(&inner.org, stored)
            .await
            .map_err(|e| failure(Code::Internal, codes::UNAVAILABLE, e))?;
        let size = event.event.as_ref().map_or(0, |e| e.payload.len());
        if !events.is_empty() && bytes + size > MAX_RESPONSE_BYTES {
            break;
        }
        if !inner.engine.take_delivery_allocation(&stored.channel) {
            // What was already taken goes out first; then the stream ends.
            exhausted = true;
            break;
        }
        bytes += size;
        events.push(event);
        last = stored.replay_id;
    }
    let allocation_used_up = || {
        failure(
            Code::ResourceExhausted,
            codes::ALLOCATION,
            "The daily event delivery allocation has been exceeded.",
        )
    };
    let complete = held_until.is_none() && !exhausted && events.len() == batch.events.len();
    cursor.after = if complete {
        batch.scanned_through.max(cursor.after)
    } else {
        last
    };
    if events.is_empty() {
        if exhausted {
            return Err(allocation_used_up());
        }
        return Ok(match held_until {
            Some(at) => Delivered::NotYetDue(at),
            None if batch.reached_head => Delivered::AtHead,
            None => Delivered::More,
        });
    }
    cursor.pending -= i32::try_from(events.len()).unwrap_or(cursor.pending);
    metrics::counter!("bayou_pubsub_delivered_events_total").increment(events.len() as u64);
    inner.pace.delivered(events.len() as u64);
    // An event only this stream holds is taken; a shared one is cloned, and its datum and ids
    // are shared `Bytes`: a clone copies no payload.
    let events = events
        .into_iter()
        .map(|e| Arc::try_unwrap(e).unwrap_or_else(|shared| ConsumerEvent::clone(&shared)))
        .collect();
    send(out, response::<F>(cursor, events, None)).await;
    if exhausted {
        return Err(allocation_used_up());
    }
    Ok(Delivered::Sent)
}

fn response<F: Flow>(
    cursor: &Cursor,
    events: Vec<ConsumerEvent>,
    commit: Option<CommitReplayResponse>,
) -> F::Response {
    F::response(
        events,
        replay_id::encode(cursor.after),
        cursor.pending,
        commit,
    )
}

async fn send<R>(out: &Yielder<Result<R, Status>>, response: R) {
    out.send(Ok(response)).await;
}
