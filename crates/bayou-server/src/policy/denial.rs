//! Why a security policy said no, as a value the engine and tests can match on.
//!
//! Each variant renders to the `code::text` reply error clients expect — Salesforce's exact
//! text where Salesforce has one — so a policy never builds error strings itself and a caller
//! never parses them back.

use bayou_protocol::errors;

/// A refusal by a [`SecurityPolicy`](super::SecurityPolicy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// No credentials at all: `401::Request requires authentication`.
    #[error("{}", errors::REQUEST_REQUIRES_AUTHENTICATION)]
    AuthenticationRequired,
    /// Unknown, expired or revoked credentials: `401::Authentication invalid`.
    #[error("{}", errors::AUTHENTICATION_INVALID)]
    AuthenticationInvalid,
    /// A `/topic/` or `/data/` channel with nothing behind it.
    #[error("{}", errors::channel_does_not_exist(.0))]
    ChannelDoesNotExist(String),
    /// A `/u/` channel with no StreamingChannel: `404::Unknown channel`.
    #[error("{}", errors::UNKNOWN_CHANNEL)]
    UnknownChannel,
    /// A `/u/` channel that exists with other letter case.
    #[error("{}", errors::CHANNEL_CASE_MISMATCH)]
    ChannelCaseMismatch,
    /// Dynamic creation refused for a name that is not a valid StreamingChannel name.
    #[error("403::Cannot create channel {0}")]
    CannotCreateChannel(String),
    /// Dynamic creation refused because the org has as many channels as it may.
    #[error("{}", errors::CHANNEL_LIMIT_EXCEEDED)]
    ChannelLimitExceeded,
    /// A filter (`?Field='x'`) on a channel that does not support filters.
    #[error("{}", errors::invalid_channel(.subscription, "filtered subscriptions are only available on PushTopic channels"))]
    FilterNotSupported { subscription: String },
    /// A filter that does not parse.
    #[error("400::Invalid subscription filter {filter}: {why}")]
    InvalidFilter { filter: String, why: String },
    /// A filter on fields the PushTopic does not select.
    #[error("400::Query fields {{{}}} do not exist on the topic entity", .0.join(", "))]
    FilterFieldsNotSelected(Vec<String>),
    /// A subscription no user of the org may make (`/**`, `/*`, `/service/**`).
    #[error("{}", errors::RESTRICTED_CHANNEL)]
    RestrictedChannel,
    /// A Bayeux publish on a channel closed to clients.
    #[error("{}", errors::publish_denied(.0))]
    PublishDenied(String),
    /// The daily delivery allocation covering the channel is used up.
    #[error("{}", errors::DAILY_EVENT_LIMIT)]
    DailyLimitExceeded,
    /// The org's storage failed while deciding (a dynamic channel could not be stored).
    #[error("500::{0}")]
    Unavailable(String),
}

impl Denial {
    /// The `code::text` reply error.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// Whether the refusal is about something unknown here — a token, a channel, a topic's
    /// fields — that another process sharing the same state may have just made (see
    /// [`super::SecurityPolicy::settle`]).
    pub fn may_be_behind(&self) -> bool {
        matches!(
            self,
            Self::AuthenticationInvalid
                | Self::ChannelDoesNotExist(_)
                | Self::UnknownChannel
                | Self::ChannelCaseMismatch
                | Self::FilterFieldsNotSelected(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_salesforces_texts() {
        assert_eq!(
            Denial::AuthenticationInvalid.reason(),
            "401::Authentication invalid"
        );
        assert_eq!(
            Denial::ChannelDoesNotExist("/topic/X".into()).reason(),
            "400::The channel you requested to subscribe to doesn\u{2019}t exist /topic/X"
        );
        assert_eq!(
            Denial::FilterFieldsNotSelected(vec!["A".into(), "B".into()]).reason(),
            "400::Query fields {A, B} do not exist on the topic entity"
        );
        assert_eq!(
            Denial::FilterNotSupported {
                subscription: "/a?x=1".into()
            }
            .reason(),
            "400::Invalid channel /a?x=1: filtered subscriptions are only available on PushTopic \
             channels"
        );
        assert_eq!(
            Denial::PublishDenied("/topic/T".into()).reason(),
            errors::publish_denied("/topic/T")
        );
    }
}
