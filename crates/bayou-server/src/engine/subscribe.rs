//! `/meta/subscribe` and `/meta/unsubscribe`.
//!
//! `subscription` may be one channel or an array (Salesforce "bulk subscriptions"); an array is
//! applied all or nothing, and every reply — success or failure — echoes the field verbatim
//! (faye and the Bayeux spec rely on it).

use bayou_protocol::{errors, ChannelError, ChannelKind, Message, Reply, Subscription};

use super::{write, Engine};

impl Engine {
    pub(super) fn subscribe(&self, message: Message) -> Reply {
        let session = match self.session_for(&message) {
            Ok(session) => session,
            Err(reply) => return (*reply).with_subscription(subscription_echo(&message)),
        };
        let subscriptions = match parse_subscriptions(&message) {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                return self
                    .failure(&message, error)
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(&message))
            }
        };
        {
            let mut index = write(&self.index);
            for subscription in &subscriptions {
                index.subscribe(&subscription.channel, &session);
                session.add_subscription(&subscription.raw);
            }
        }
        Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id())
            .with_subscription(subscription_echo(&message))
    }

    pub(super) fn unsubscribe(&self, message: Message) -> Reply {
        let session = match self.session_for(&message) {
            Ok(session) => session,
            Err(reply) => return (*reply).with_subscription(subscription_echo(&message)),
        };
        let subscriptions = match parse_subscriptions(&message) {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                return self
                    .failure(&message, error)
                    .with_client_id(session.id())
                    .with_subscription(subscription_echo(&message))
            }
        };
        {
            let mut index = write(&self.index);
            for subscription in &subscriptions {
                if session.remove_subscription(&subscription.raw) {
                    index.unsubscribe(subscription.channel.as_str(), session.id());
                }
            }
        }
        Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id())
            .with_subscription(subscription_echo(&message))
    }
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
    if subscription.filter.is_some() {
        return Err(errors::invalid_channel(
            raw,
            "filtered subscriptions are only available on PushTopic channels",
        ));
    }
    Ok(subscription)
}
