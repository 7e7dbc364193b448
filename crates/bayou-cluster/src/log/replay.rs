//! Reading from JetStream what the ring does not hold: the records when a node starts, and
//! replays of events older than the ring. Both use an ordered consumer with a subject filter,
//! so the server sends only what matches — a replay of one channel costs what that channel
//! holds, not what the stream holds.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use bayou_log::{ChannelFilter, LogError, ReadBatch, StoredEvent};
use futures_util::StreamExt;

use super::headers;
use super::records::Records;
use super::Shared;
use crate::subjects::Names;
use crate::ClusterError;

/// How long one message of a replay may take to arrive.
const NEXT_MESSAGE: Duration = Duration::from_secs(5);

/// Every record, as the newest write of each key.
pub(crate) async fn load_records(stream: &Stream, names: &Names) -> Result<Records, ClusterError> {
    let failed = |e: String| ClusterError::Nats(format!("cannot load the org's records: {e}"));
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: names.all_records(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut records = Records::default();
    if consumer.cached_info().num_pending == 0 {
        return Ok(records);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut loaded = 0_u64;
    loop {
        let message = tokio::time::timeout(NEXT_MESSAGE, messages.next())
            .await
            .map_err(|_| failed("timed out".into()))?
            .ok_or_else(|| failed("the consumer ended".into()))?
            .map_err(|e| failed(e.to_string()))?;
        let info = message.info().map_err(|e| failed(e.to_string()))?;
        if let Some(key) = names.record_key(&message.subject) {
            let value =
                (!headers::is_removal(message.headers.as_ref())).then(|| message.payload.to_vec());
            records.apply(&key, info.stream_sequence, value);
            loaded += 1;
        }
        if info.pending == 0 {
            break;
        }
    }
    tracing::info!(messages = loaded, "the org's records loaded from JetStream");
    Ok(records)
}

/// Events after `after` (up to this node's `head`) passing `filter`, at most `max`.
pub(crate) async fn read(
    shared: &Shared,
    after: u64,
    head: u64,
    filter: &ChannelFilter,
    max: usize,
) -> Result<ReadBatch, LogError> {
    let unavailable = |e: String| LogError::Unavailable(format!("cannot read the log: {e}"));
    let filter_subject = match filter {
        ChannelFilter::All => shared.names.all_events(),
        ChannelFilter::Pattern(pattern) => shared.names.pattern_filter(pattern),
    };
    let consumer = shared
        .stream
        .create_consumer(OrderedConfig {
            filter_subject,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut batch = ReadBatch {
        events: Vec::new(),
        scanned_through: head,
        reached_head: true,
    };
    if consumer.cached_info().num_pending == 0 {
        return Ok(batch);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    loop {
        let message = tokio::time::timeout(NEXT_MESSAGE, messages.next())
            .await
            .map_err(|_| unavailable("timed out".into()))?
            .ok_or_else(|| unavailable("the consumer ended".into()))?
            .map_err(|e| unavailable(e.to_string()))?;
        let info = message.info().map_err(|e| unavailable(e.to_string()))?;
        let sequence = info.stream_sequence;
        if sequence > head {
            // Past this node's tail: the tail delivers it.
            return Ok(batch);
        }
        if let Some(channel) = shared.names.channel_of(&message.subject) {
            if filter.matches(&channel) {
                let headers = message.headers.as_ref();
                let published_ms =
                    i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                batch.events.push(StoredEvent {
                    replay_id: sequence,
                    created_ms: headers::created_ms(headers, published_ms),
                    channel: channel.into(),
                    bytes: headers::event_bytes(headers, &message.payload, sequence),
                    audience: headers::audience(headers),
                });
            }
        }
        if info.pending == 0 {
            return Ok(batch);
        }
        if batch.events.len() >= max {
            batch.scanned_through = sequence;
            batch.reached_head = sequence >= head;
            return Ok(batch);
        }
    }
}
