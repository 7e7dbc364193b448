//! What retention may have removed, per rule: replaying from an id at or below a rule's floor
//! could miss events of that rule's channels, so the engine answers Salesforce's invalid
//! replay id error instead — JetStream itself would silently start such a replay later.
//!
//! Events expire by their own TTL (the rule's age), counted from the time JetStream stored
//! them; sequences are stored in time order. So a rule's floor is the sequence before the first
//! event stored after `now - age`. The floors are refreshed every [`REFRESH`]; to stay on the
//! safe side between refreshes the cut-off is taken [`MARGIN`] later than the age says: an event
//! about to expire is already treated as gone. Events removed on purpose (`expire_through`, a
//! fault) raise every floor through a record all nodes read.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::HeaderMap;

use super::Shared;

pub(crate) const REFRESH: Duration = Duration::from_secs(20);
const MARGIN: Duration = Duration::from_secs(60);
/// Short retention (tests, demos) is refreshed more often, and its margin is a quarter of it.
const SHORTEST_REFRESH: Duration = Duration::from_millis(250);
/// The record holding the highest replay id removed on purpose.
pub(crate) const EXPIRED_THROUGH_KEY: &[u8] = b"bayou-cluster.expired-through";

pub(crate) async fn run(shared: Weak<Shared>) {
    let every = match shared.upgrade() {
        Some(shared) => (shared.policy.shortest_age() / 8).clamp(SHORTEST_REFRESH, REFRESH),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        refresh(&shared).await;
    }
}

/// Recomputes the floors (a floor never goes down), and reads the stream's size and how many
/// events it holds.
pub(crate) async fn refresh(shared: &Arc<Shared>) {
    use std::sync::atomic::Ordering;
    if let Ok(info) = shared.stream.get_info().await {
        shared
            .stream_bytes
            .store(info.state.bytes, Ordering::Relaxed);
        shared
            .stream_last
            .fetch_max(info.state.last_sequence, Ordering::Relaxed);
    }
    if let Some(events) = events_stored(shared).await {
        shared.events_stored.store(events, Ordering::Relaxed);
    }
    let now = bayou_protocol::time::now_millis();
    let expired_through = expired_through(shared);
    let ages: Vec<Duration> = shared.policy.rules().iter().map(|r| r.max_age).collect();
    for (index, age) in ages.into_iter().enumerate() {
        let kept = age.saturating_sub(MARGIN.min(age / 4));
        let cutoff = now - i64::try_from(kept.as_millis()).unwrap_or(0);
        let floor = match first_event_since(shared, cutoff).await {
            Ok(Some(sequence)) => sequence - 1,
            // Nothing stored since the cut-off: everything up to the stream's end is older.
            Ok(None) => *shared.head.borrow(),
            Err(e) => {
                tracing::debug!("cannot refresh retention floors: {e}");
                return;
            }
        };
        let mut floors = shared.floors.write();
        if let Some(current) = floors.get_mut(index) {
            *current = (*current).max(floor).max(expired_through);
        }
    }
}

/// How many events the stream holds, its records not counted: the message counts of the
/// event subjects (one per channel), paged by JetStream.
async fn events_stored(shared: &Shared) -> Option<u64> {
    use futures_util::TryStreamExt;
    let subjects = shared
        .stream
        .info_with_subjects(shared.names.all_events())
        .await
        .ok()?;
    subjects
        .try_fold(
            0_u64,
            |sum, (_, count)| async move { Ok(sum + count as u64) },
        )
        .await
        .ok()
}

/// The highest replay id removed on purpose, as recorded for every node.
pub(crate) fn expired_through(shared: &Shared) -> u64 {
    shared
        .records
        .read()
        .get(EXPIRED_THROUGH_KEY)
        .and_then(|v| Some(u64::from_be_bytes(v.as_slice().try_into().ok()?)))
        .unwrap_or(0)
}

/// The sequence of the first event JetStream stored at or after `cutoff_ms`.
async fn first_event_since(shared: &Shared, cutoff_ms: i64) -> Result<Option<u64>, String> {
    let start = jiff::Timestamp::from_millisecond(cutoff_ms.max(0)).map_err(|e| e.to_string())?;
    let request = serde_json::json!({
        "start_time": start.to_string(),
        "next_by_subj": shared.names.all_events(),
    });
    let subject = format!("$JS.API.DIRECT.GET.{}", shared.names.log_stream());
    let reply = shared
        .client
        .request(subject, request.to_string().into())
        .await
        .map_err(|e| e.to_string())?;
    if reply.status.is_some_and(|s| s.as_u16() == 404) {
        return Ok(None);
    }
    sequence_header(reply.headers.as_ref())
        .map(Some)
        .ok_or_else(|| format!("unexpected direct get reply: {:?}", reply.status))
}

fn sequence_header(headers: Option<&HeaderMap>) -> Option<u64> {
    headers?.get("Nats-Sequence")?.as_str().parse().ok()
}
