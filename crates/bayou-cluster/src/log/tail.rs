//! Following the stream: every message after the node's position, in sequence order, through an
//! ordered consumer (which recreates itself after a gap or a reconnect, from the last sequence
//! it delivered). Events go to the ring and wake the engine; record writes go to this node's
//! copy of the records. A sequence at or below the position is skipped, so a consumer recreated
//! after a reconnect never makes the engine see an event twice.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use bayou_log::StoredEvent;
use futures_util::StreamExt;

use super::headers;
use super::Shared;

/// Messages applied under one lock and one wake-up of the engine.
const CHUNK: usize = 512;

pub(crate) async fn run(shared: Arc<Shared>, start_after: u64) {
    let mut position = start_after;
    let mut retry = Duration::from_millis(100);
    loop {
        match follow(&shared, &mut position).await {
            Ok(()) => retry = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(position, "the log's tail stopped, following again: {e}");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn follow(shared: &Shared, position: &mut u64) -> Result<(), String> {
    let consumer = shared
        .stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: *position + 1,
            },
            max_expires: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let mut chunks = messages.ready_chunks(CHUNK);
    let mut reconnected = shared.reconnects.subscribe();
    reconnected.borrow_and_update();
    loop {
        let chunk = tokio::select! {
            chunk = chunks.next() => match chunk {
                Some(chunk) => chunk,
                None => return Ok(()),
            },
            // A NATS server restart loses the consumer; noticing it from missed heartbeats
            // takes seconds, a reconnection says it at once.
            _ = reconnected.changed() => return Err("reconnected to NATS".into()),
        };
        let mut taken = Vec::with_capacity(chunk.len());
        let mut failed = None;
        for message in chunk {
            match message {
                Ok(message) => taken.push(message),
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        apply(shared, position, taken);
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

fn apply(shared: &Shared, position: &mut u64, messages: Vec<async_nats::jetstream::Message>) {
    let mut others_wrote = Vec::new();
    let mut last_pending = None;
    let mut expired_through = None;
    {
        let mut ring = shared.ring.write();
        for message in messages {
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            last_pending = Some((sequence, info.pending));
            if sequence <= *position {
                continue;
            }
            *position = sequence;
            let headers = message.headers.as_ref();
            if let Some(channel) = shared.names.channel_of(&message.subject) {
                let published_ms =
                    i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                ring.push(StoredEvent {
                    replay_id: sequence,
                    created_ms: headers::created_ms(headers, published_ms),
                    channel: channel.into(),
                    bytes: headers::event_bytes(headers, &message.payload, sequence),
                    audience: headers::audience(headers),
                });
            } else {
                ring.advance(sequence);
                if let Some(key) = shared.names.record_key(&message.subject) {
                    let value = (!headers::is_removal(headers)).then(|| message.payload.to_vec());
                    if key == super::floors::EXPIRED_THROUGH_KEY {
                        expired_through = value
                            .as_deref()
                            .and_then(|v| Some(u64::from_be_bytes(v.try_into().ok()?)));
                    }
                    let mine = headers::text(headers, headers::NODE) == Some(&shared.node_id);
                    // This node's writes are applied when acknowledged, usually before they
                    // come back here; whichever applies one first deletes what it superseded.
                    if let Some(previous) = shared.records.write().apply(&key, sequence, value) {
                        if !mine {
                            others_wrote.push(key);
                            continue;
                        }
                        if previous > 0 {
                            let _ = shared.superseded.send(previous);
                        }
                    }
                }
            }
        }
    }
    if !others_wrote.is_empty() {
        // Announced before the head moves past them, so that whoever waits for the head
        // (`RecordStore::sync`) finds them announced. Nobody listening is fine: the org
        // listens only once it is open.
        shared.announced_through.store(*position, Ordering::Release);
        let _ = shared.record_changes.send(bayou_log::RecordChanges {
            through: *position,
            keys: others_wrote.into(),
        });
    }
    if let Some((sequence, pending)) = last_pending {
        shared
            .stream_last
            .fetch_max(sequence + pending, Ordering::Relaxed);
    }
    shared.head.send_if_modified(|head| {
        let moved = *head < *position;
        *head = (*head).max(*position);
        moved
    });
    if let Some(replay_id) = expired_through {
        // Another node expired events on purpose: refuse replays from below at once.
        shared.raise_floors(replay_id);
        shared.ring.write().forget_through(replay_id);
    }
}
