//! Replay: a subscription that starts in the past reads its backlog from the log, then joins
//! the live stream with no gap and no duplicate.
//!
//! Each subscription has a [`ReplayCursor`]: a position (the last replay id it has seen) and a
//! flag saying whether it is still catching up. While it catches up the dispatcher skips it and
//! [`Engine::fill_from_log`] feeds its session's queue from the log — only as much as the queue
//! has room for, so a slow client replaying millions of events never has them in memory at
//! once. When a read reaches the log's head, the cursor switches to live *under the dispatch
//! lock*: if the dispatcher has not yet delivered past the cursor, every later event will reach
//! the subscription through the dispatcher (which skips ids at or below the cursor); if it has,
//! the backlog read simply goes on. Either way each event arrives exactly once.
//!
//! The `ext.replay` map of `/meta/subscribe` is read here too, with Salesforce's rules and error
//! texts (§7 of the reference).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bayou_log::ChannelFilter;
use bayou_protocol::{errors, ChannelName, Subscription};
use serde_json::Value;

use super::queue::Outgoing;
use super::{Engine, Session};
use crate::policy::{DeliveryFilter, EventView};

/// Where a subscription stands in the log.
#[derive(Debug)]
pub struct ReplayCursor {
    catching_up: AtomicBool,
    /// The last replay id this subscription has received (or chose to skip).
    position: AtomicU64,
}

impl ReplayCursor {
    /// Live from `position`: receives events with a higher replay id.
    pub fn live(position: u64) -> Self {
        Self {
            catching_up: AtomicBool::new(false),
            position: AtomicU64::new(position),
        }
    }

    /// Replaying every retained event after `position`.
    pub fn replaying(position: u64) -> Self {
        Self {
            catching_up: AtomicBool::new(true),
            position: AtomicU64::new(position),
        }
    }

    /// Whether the dispatcher should deliver event `replay_id` to this subscription.
    pub fn accepts(&self, replay_id: u64) -> bool {
        !self.catching_up.load(Ordering::Acquire)
            && replay_id > self.position.load(Ordering::Acquire)
    }

    pub fn is_catching_up(&self) -> bool {
        self.catching_up.load(Ordering::Acquire)
    }

    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }
}

/// A subscription still reading its backlog.
#[derive(Debug)]
pub struct CatchUp {
    /// The subscription as the client wrote it.
    pub raw: String,
    pub pattern: ChannelName,
    pub cursor: Arc<ReplayCursor>,
    /// For a filtered subscription: what it lets through.
    pub filter: Option<Arc<dyn DeliveryFilter>>,
}

/// Where a subscribe asked to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// `-1`, or no replay ext: only new events.
    New,
    /// `-2`: every retained event, then new ones.
    Earliest,
    /// An id: every retained event after it.
    After(u64),
}

/// What subscribing decided, to be reported in the reply when the client asked for Bayou's
/// expired-id fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredFallback {
    pub channel: String,
    pub requested: u64,
    /// The first replay id that may be delivered.
    pub from: u64,
}

/// The parsed `ext` of a subscribe.
#[derive(Debug, Default)]
pub struct ReplayExt {
    /// The `ext.replay` object, when present.
    map: Option<serde_json::Map<String, Value>>,
    /// `ext.bayou.replayExpired == "earliest"`: resume from the oldest retained event instead
    /// of failing on an expired id.
    earliest_if_expired: bool,
}

impl ReplayExt {
    pub fn parse(ext: Option<&serde_json::value::RawValue>) -> Self {
        let Some(ext) = ext else {
            return Self::default();
        };
        let Ok(Value::Object(mut ext)) = serde_json::from_str::<Value>(ext.get()) else {
            return Self::default();
        };
        let map = match ext.remove("replay") {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        };
        let earliest_if_expired = ext
            .get("bayou")
            .and_then(|b| b.get("replayExpired"))
            .and_then(Value::as_str)
            == Some("earliest");
        Self {
            map,
            earliest_if_expired,
        }
    }

    /// Where `subscription` should start, looked up by the subscription as written and then by
    /// its channel without filter (EMP-Connector keys its map that way).
    pub fn requested(&self, subscription: &Subscription) -> Result<ReplayFrom, String> {
        let Some(map) = &self.map else {
            return Ok(ReplayFrom::New);
        };
        let value = map
            .get(&subscription.raw)
            .or_else(|| map.get(subscription.channel.as_str()))
            .ok_or_else(|| {
                errors::replay_map_missing_channel(subscription.channel.as_str(), &java_map(map))
            })?;
        let id = match value {
            Value::Number(n) => n.as_i64(),
            // "-2 works as string or int": accept numeric strings for every value.
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match id {
            Some(-1) => Ok(ReplayFrom::New),
            Some(-2) => Ok(ReplayFrom::Earliest),
            Some(id) if id >= 0 => Ok(ReplayFrom::After(id as u64)),
            _ => Err(errors::replay_id_invalid(&display_value(value))),
        }
    }
}

/// Renders a replay map as Salesforce does in its error text (Java's `Map.toString`):
/// `{/topic/a=-2, /topic/b=15}`, `{}` when empty.
fn java_map(map: &serde_json::Map<String, Value>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", display_value(v)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Engine {
    /// Decides the cursor for a new subscription starting at `from`, checking the id against
    /// what the log retains. Returns the cursor, and a fallback note when an expired id was
    /// replaced by the oldest retained event at the client's request.
    pub(super) fn replay_cursor(
        &self,
        subscription: &Subscription,
        from: ReplayFrom,
        ext: &ReplayExt,
        dispatched: u64,
    ) -> Result<(ReplayCursor, Option<ExpiredFallback>), String> {
        match from {
            ReplayFrom::New => Ok((ReplayCursor::live(dispatched), None)),
            ReplayFrom::Earliest => Ok((ReplayCursor::replaying(0), None)),
            ReplayFrom::After(id) => {
                let channel = subscription.channel.as_str();
                let floor = self.log.retention_floor(channel);
                if id > self.log.head() {
                    return Err(errors::replay_id_invalid(&id.to_string()));
                }
                if id < floor {
                    if !ext.earliest_if_expired {
                        return Err(errors::replay_id_invalid(&id.to_string()));
                    }
                    let fallback = ExpiredFallback {
                        channel: subscription.raw.clone(),
                        requested: id,
                        from: floor + 1,
                    };
                    return Ok((ReplayCursor::replaying(floor), Some(fallback)));
                }
                Ok((ReplayCursor::replaying(id), None))
            }
        }
    }

    /// Moves backlog events of `session`'s replaying subscriptions from the log into its queue,
    /// as far as the queue has room for one reply, and switches subscriptions that caught up to
    /// live. One fill at a time per session: a second waits, then starts where the first
    /// stopped, so no event is queued twice.
    pub async fn fill_from_log(&self, session: &Session) {
        if session.catch_ups().is_empty() {
            return;
        }
        let _filling = session.fill_lock().await;
        let catch_ups = session.catch_ups();
        let max = self.config.max_messages_per_reply;
        for catch_up in &catch_ups {
            loop {
                if session.closed().is_some() {
                    return;
                }
                let room = max.saturating_sub(session.queued());
                let full = session.queued_bytes() >= self.config.max_queue_bytes;
                if room == 0 || full || !catch_up.cursor.is_catching_up() {
                    break;
                }
                let after = catch_up.cursor.position();
                let filter = ChannelFilter::Pattern(catch_up.pattern.as_str().to_owned());
                let batch = match self.log.read(after, filter, room, 10_000).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::error!(error = %e, client_id = session.id(), "replay read failed");
                        return;
                    }
                };
                // Where the next read starts: past everything examined, unless the queue's byte
                // bound stops this batch early.
                let mut position = batch.scanned_through;
                for event in batch.events {
                    if session.queued_bytes() + event.bytes.len() > self.config.max_queue_bytes
                        && session.queued() > 0
                    {
                        position = event.replay_id - 1;
                        break;
                    }
                    if !event.is_for(session.principal().user_id.as_deref()) {
                        continue;
                    }
                    let delivery = match &catch_up.filter {
                        None => None,
                        Some(filter) => match filter.deliver(&EventView::new(&event.bytes)) {
                            Some(delivery) => Some(delivery),
                            None => continue,
                        },
                    };
                    let message =
                        Outgoing::delivering(&event.bytes, delivery, session.api_version());
                    if !self.allocations.take_for(&event.channel) {
                        self.end_for_daily_limit(session.id());
                        return;
                    }
                    session.enqueue_backlog(message);
                }
                let stopped_early = position < batch.scanned_through;
                catch_up.cursor.position.store(position, Ordering::Release);
                if stopped_early {
                    break;
                }
                if batch.reached_head && self.try_go_live(&catch_up.cursor) {
                    session.finish_catch_up(catch_up);
                    break;
                }
            }
        }
    }

    /// Switches a cursor that has read up to the log's head to live, if the dispatcher has not
    /// delivered past it.
    fn try_go_live(&self, cursor: &ReplayCursor) -> bool {
        let dispatched = self.dispatched.lock();
        if cursor.position() >= *dispatched {
            cursor.catching_up.store(false, Ordering::Release);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn ext(json: &str) -> ReplayExt {
        ReplayExt::parse(Some(&RawValue::from_string(json.into()).unwrap()))
    }

    fn sub(raw: &str) -> Subscription {
        Subscription::parse(raw).unwrap()
    }

    #[test]
    fn reads_ids_numbers_and_numeric_strings() {
        let e = ext(r#"{"replay":{"/a":-2,"/b":"-1","/c":15,"/d":"16"}}"#);
        assert_eq!(e.requested(&sub("/a")), Ok(ReplayFrom::Earliest));
        assert_eq!(e.requested(&sub("/b")), Ok(ReplayFrom::New));
        assert_eq!(e.requested(&sub("/c")), Ok(ReplayFrom::After(15)));
        assert_eq!(e.requested(&sub("/d")), Ok(ReplayFrom::After(16)));
        assert_eq!(
            ReplayExt::default().requested(&sub("/a")),
            Ok(ReplayFrom::New)
        );
    }

    #[test]
    fn map_without_the_channel_is_salesforces_error() {
        let e = ext(r#"{"replay":{}}"#);
        assert_eq!(
            e.requested(&sub("/topic/topicName")).unwrap_err(),
            "400::The replayId for channel {/topic/topicName} wasn't found using the provided \
             replay ID map {{}}. Ensure that the channel name you provided in the replay map is \
             valid and matches the channel name used for subscribing."
        );
        let e = ext(r#"{"replay":{"/topic/other":-2}}"#);
        assert!(e
            .requested(&sub("/topic/x"))
            .unwrap_err()
            .contains("map {{/topic/other=-2}}"));
    }

    #[test]
    fn filtered_subscriptions_find_the_bare_channel_key() {
        let e = ext(r#"{"replay":{"/topic/T":7}}"#);
        assert_eq!(
            e.requested(&sub("/topic/T?Name='x'")),
            Ok(ReplayFrom::After(7))
        );
    }

    #[test]
    fn bad_values_are_invalid_ids() {
        let e = ext(r#"{"replay":{"/a":-3,"/b":"soon","/c":1.5}}"#);
        for (ch, shown) in [("/a", "-3"), ("/b", "soon"), ("/c", "1.5")] {
            assert_eq!(
                e.requested(&sub(ch)).unwrap_err(),
                errors::replay_id_invalid(shown)
            );
        }
    }

    #[test]
    fn the_fallback_is_opt_in() {
        assert!(!ext(r#"{"replay":{}}"#).earliest_if_expired);
        assert!(ext(r#"{"replay":{},"bayou":{"replayExpired":"earliest"}}"#).earliest_if_expired);
    }
}
