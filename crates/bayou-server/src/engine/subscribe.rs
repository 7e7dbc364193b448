//! `/meta/subscribe` and `/meta/unsubscribe`.
//!
//! `subscription` may be one channel or an array (Salesforce "bulk subscriptions"); an array is
//! applied all or nothing, and every reply — success or failure — echoes the field verbatim
//! (faye and the Bayeux spec rely on it). Where each subscription starts in the log comes from
//! `ext.replay` (see `replay.rs`).

use std::sync::Arc;

use bayou_protocol::{errors, Advice, ChannelError, ChannelKind, Message, Reply, Subscription};
use serde_json::value::RawValue;

use super::replay::{CatchUp, ExpiredFallback, ReplayCursor, ReplayExt, ReplayFrom};
use super::Engine;

/// How long a subscribe waits for this node's log to reach a replay id it knows was stored.
const CATCH_UP_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
use crate::policy::{Credentials, Denial};

impl Engine {
    /// The session a (un)subscribe names and its parsed subscriptions, or the failure reply
    /// (which, like every (un)subscribe reply, echoes `subscription`).
    fn subscription_request(
        &self,
        message: &Message,
        credentials: &Credentials,
    ) -> Result<(Arc<super::Session>, Vec<Subscription>), Box<Reply>> {
        let session = self
            .session_for(message, credentials)
            .map_err(|reply| Box::new(reply.with_subscription(subscription_echo(message))))?;
        let subscriptions = parse_subscriptions(message).map_err(|error| {
            Box::new(
                self.failure(message, error)
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(message)),
            )
        })?;
        Ok((session, subscriptions))
    }

    pub(super) async fn subscribe(&self, message: Message, credentials: &Credentials) -> Reply {
        let (session, subscriptions) = match self.subscription_request(&message, credentials) {
            Ok(request) => request,
            Err(reply) => return *reply,
        };
        let new = subscriptions
            .iter()
            .filter(|s| !session.has_subscription(&s.raw))
            .count();
        let max = self.config.max_subscriptions_per_session;
        if session.subscription_count() + new > max {
            return self
                .failure(&message, errors::too_many_subscriptions(max))
                .with_client_id(session.id())
                .with_subscription(subscription_echo(&message));
        }
        let check = || {
            subscriptions
                .iter()
                .map(|s| {
                    if self.allocation_exhausted(s.channel.as_str()) {
                        return Err(Denial::DailyLimitExceeded);
                    }
                    self.policy.can_subscribe(session.principal(), s)?;
                    self.policy.delivery_filter(session.principal(), s)
                })
                .collect::<Result<Vec<_>, Denial>>()
        };
        let checked = match check() {
            // A PushTopic or StreamingChannel made through another node of a cluster a moment
            // ago: look again once this node has caught up.
            Err(denial) if denial.may_be_behind() => {
                self.policy.settle(&denial).await;
                check()
            }
            checked => checked,
        };
        let filters = match checked {
            Ok(filters) => filters,
            Err(denial) => {
                return self
                    .failure(&message, denial.reason())
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(&message))
            }
        };
        // Before durable streaming (API 37.0) `ext.replay` meant nothing: new events only.
        let ext = match session.api_version().is_durable() {
            true => ReplayExt::parse(message.ext.as_deref()),
            false => ReplayExt::parse(None),
        };
        let starts = match subscriptions
            .iter()
            .map(|s| ext.requested(s))
            .collect::<Result<Vec<_>, String>>()
        {
            Ok(starts) => starts,
            Err(error) => {
                return self
                    .failure(&message, error)
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(&message))
            }
        };
        // A client that moved from another node of a cluster may ask for an id this node's tail
        // has not reached yet: give the tail a moment rather than call the id invalid.
        let newest = starts
            .iter()
            .filter_map(|from| match from {
                ReplayFrom::After(id) => Some(*id),
                _ => None,
            })
            .max();
        if let Some(id) = newest.filter(|id| *id > self.log.head()) {
            let _ = self.log.catch_up(id, CATCH_UP_WITHIN).await;
        }
        let mut fallbacks: Vec<ExpiredFallback> = Vec::new();
        let mut replaying = false;
        let applied = {
            // Live subscriptions start after the last dispatched event: hold the dispatch lock
            // so no event falls between reading that position and joining the index.
            let dispatched = self.dispatched.lock();
            let cursors = subscriptions
                .iter()
                .zip(starts)
                .map(|(s, from)| self.replay_cursor(s, from, &ext, *dispatched))
                .collect::<Result<Vec<(ReplayCursor, Option<ExpiredFallback>)>, String>>();
            cursors.map(|cursors| {
                let mut index = self.index.write();
                for ((subscription, (cursor, fallback)), filter) in
                    subscriptions.iter().zip(cursors).zip(filters)
                {
                    let cursor = Arc::new(cursor);
                    let catch_up = cursor.is_catching_up().then(|| {
                        Arc::new(CatchUp {
                            raw: subscription.raw.clone(),
                            pattern: subscription.channel.clone(),
                            cursor: Arc::clone(&cursor),
                            filter: filter.clone(),
                        })
                    });
                    replaying |= catch_up.is_some();
                    let keyed = subscription.filter.as_deref().zip(filter);
                    index.subscribe(&subscription.channel, &session, cursor, keyed);
                    session.add_subscription(&subscription.raw, catch_up);
                    fallbacks.extend(fallback);
                }
            })
        };
        if let Err(error) = applied {
            return self
                .failure(&message, error)
                .with_client_id(session.id())
                .with_subscription(subscription_echo(&message));
        }
        if replaying {
            // Start the backlog now, so a connect already held for this session wakes up.
            self.fill_from_log(&session).await;
            if session.closed() == Some(super::CloseReason::DailyLimit) {
                // The backlog used up a daily allocation: say so, as Salesforce does.
                return self
                    .failure(&message, errors::DAILY_EVENT_LIMIT)
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(&message))
                    .with_advice(Advice::none());
            }
        }
        let reply = Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id())
            .with_subscription(subscription_echo(&message));
        match fallback_ext(&fallbacks) {
            Some(ext) => reply.with_ext(ext),
            None => reply,
        }
    }

    pub(super) fn unsubscribe(&self, message: Message, credentials: &Credentials) -> Reply {
        let (session, subscriptions) = match self.subscription_request(&message, credentials) {
            Ok(request) => request,
            Err(reply) => return *reply,
        };
        {
            let mut index = self.index.write();
            for subscription in &subscriptions {
                if session.remove_subscription(&subscription.raw) {
                    index.unsubscribe(
                        subscription.channel.as_str(),
                        session.id(),
                        subscription.filter.as_deref(),
                    );
                }
            }
        }
        Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id())
            .with_subscription(subscription_echo(&message))
    }
}

/// `{"bayou":{"replay":{"<channel>":{"requested":N,"expired":true,"from":M}}}}` for the
/// subscriptions whose expired replay id was replaced by the oldest retained event.
fn fallback_ext(fallbacks: &[ExpiredFallback]) -> Option<Box<RawValue>> {
    if fallbacks.is_empty() {
        return None;
    }
    let entries: serde_json::Map<String, serde_json::Value> = fallbacks
        .iter()
        .map(|f| {
            let note =
                serde_json::json!({"requested": f.requested, "expired": true, "from": f.from});
            (f.channel.clone(), note)
        })
        .collect();
    let ext = serde_json::json!({"bayou": {"replay": entries}});
    RawValue::from_string(ext.to_string()).ok()
}

fn subscription_echo(message: &Message) -> Option<Box<serde_json::value::RawValue>> {
    message.subscription.as_ref().map(|s| s.raw.clone())
}

/// Validates every channel of the `subscription` field, or gives the error for the first bad
/// one.
fn parse_subscriptions(message: &Message) -> Result<Vec<Subscription>, String> {
    let channels = match &message.subscription {
        Some(field) if !field.channels.is_empty() => &field.channels,
        _ => return Err(errors::CHANNEL_NOT_SPECIFIED.to_owned()),
    };
    channels.iter().map(|raw| parse_one(raw)).collect()
}

fn parse_one(raw: &str) -> Result<Subscription, String> {
    if raw.is_empty() {
        return Err(errors::CHANNEL_NOT_SPECIFIED.to_owned());
    }
    let subscription = Subscription::parse(raw).map_err(|e| match e {
        ChannelError::NoLeadingSlash => errors::CHANNEL_LEADING_SLASH.to_owned(),
        other => errors::invalid_channel(raw, &other.to_string()),
    })?;
    if subscription.channel.kind() == ChannelKind::Meta {
        return Err(errors::RESTRICTED_CHANNEL.to_owned());
    }
    Ok(subscription)
}
