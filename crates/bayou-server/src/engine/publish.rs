//! Publishing: the one path every event takes to its subscribers.
//!
//! [`Engine::publish`] encodes the event once into `Bytes` and hands a clone of that buffer to
//! every matching session's queue. Client publishes over Bayeux come through
//! [`Engine::client_publish`], which checks the channel and replies; the emulated org and the
//! durable log will call `publish` too, so there is exactly one place where delivery happens.

use bayou_protocol::{encode_delivery, errors, ChannelKind, ChannelName, Message, Reply};
use serde_json::value::RawValue;

use super::{read, CloseReason, Engine, Session};
use crate::metrics as m;
use std::sync::Arc;

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("cannot publish to a wildcard channel {0}")]
    Wildcard(String),
    #[error("cannot publish to meta channel {0}")]
    Meta(String),
}

impl Engine {
    /// Delivers `data` on `channel` to every subscriber. Returns how many sessions received it.
    pub fn publish(&self, channel: &ChannelName, data: &RawValue) -> Result<usize, PublishError> {
        if channel.is_wildcard() {
            return Err(PublishError::Wildcard(channel.to_string()));
        }
        if channel.kind() == ChannelKind::Meta {
            return Err(PublishError::Meta(channel.to_string()));
        }
        let bytes = encode_delivery(channel.as_str(), data);
        let max_queue = self.config.max_queue;
        let mut overflowed: Vec<Arc<Session>> = Vec::new();
        let delivered = read(&self.index).for_each_subscriber(channel.as_str(), |session| {
            if !session.enqueue(bytes.clone(), max_queue) {
                overflowed.push(Arc::clone(session));
            }
        });
        for session in overflowed {
            tracing::warn!(
                client_id = session.id(),
                max_queue,
                "session queue full; closing the session, the client must handshake again"
            );
            self.remove_session(session.id(), CloseReason::QueueOverflow);
        }
        metrics::counter!(m::PUBLISHED).increment(1);
        metrics::counter!(m::ENQUEUED).increment(delivered as u64);
        Ok(delivered)
    }

    /// A publish sent by a client over Bayeux: broadcast channels are fanned out,
    /// `/service/**` channels go to their server-side handler only.
    pub(super) fn client_publish(&self, message: Message) -> Reply {
        let session = match self.session_for(&message) {
            Ok(session) => session,
            Err(reply) => return *reply,
        };
        let channel = match ChannelName::parse(&message.channel) {
            Ok(channel) if !channel.is_wildcard() => channel,
            Ok(_) => {
                let error =
                    errors::invalid_channel(&message.channel, "cannot publish to a wildcard");
                return self.failure(&message, error).with_client_id(session.id());
            }
            Err(e) => {
                let error = errors::invalid_channel(&message.channel, &e.to_string());
                return self.failure(&message, error).with_client_id(session.id());
            }
        };
        let Some(data) = message.data.as_deref() else {
            return self
                .failure(&message, errors::DATA_NOT_SPECIFIED)
                .with_client_id(session.id());
        };
        if channel.kind() == ChannelKind::Service {
            self.services
                .dispatch(&session, &channel, data, self.config.max_queue);
        } else if let Err(e) = self.publish(&channel, data) {
            let error = errors::invalid_channel(&message.channel, &e.to_string());
            return self.failure(&message, error).with_client_id(session.id());
        }
        Reply::success(message.channel.clone(), message.id.clone()).with_client_id(session.id())
    }
}
