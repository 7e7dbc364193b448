//! Publishing: the one path every event takes to its subscribers.
//!
//! [`Engine::publish`] encodes the event once, with its replay id, and appends it to the log;
//! it returns when the event is durable. Nobody is delivered to here: the dispatcher follows
//! the log's tail and routes every event, whoever appended it, so there is exactly one place
//! where delivery happens. Client publishes over Bayeux come through `client_publish`, which
//! checks the channel and replies once the event is stored.

use bayou_log::{LogError, NewEvent};
use bayou_protocol::{encode_bayeux_event, errors, ChannelKind, ChannelName, Message, Reply};
use serde_json::value::RawValue;

use super::Engine;
use crate::metrics as m;

/// Why a publish was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("cannot publish to a wildcard channel {0}")]
    Wildcard(String),
    #[error("cannot publish to meta channel {0}")]
    Meta(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Engine {
    /// Appends `data` on `channel` to the log and returns its replay id once it is durable.
    /// Subscribers receive it from the log's tail (see `dispatcher.rs`).
    pub async fn publish(
        &self,
        channel: &ChannelName,
        data: Box<RawValue>,
    ) -> Result<u64, PublishError> {
        if channel.is_wildcard() {
            return Err(PublishError::Wildcard(channel.to_string()));
        }
        if channel.kind() == ChannelKind::Meta {
            return Err(PublishError::Meta(channel.to_string()));
        }
        let name = channel.to_string();
        let event = NewEvent {
            channel: name.clone(),
            encode: Box::new(move |replay_id, created_ms| {
                encode_bayeux_event(&name, &data, replay_id, created_ms)
            }),
            audience: None,
        };
        let ids = self.append(vec![event]).await?;
        metrics::counter!(m::PUBLISHED).increment(1);
        ids.first()
            .copied()
            .ok_or(PublishError::Log(LogError::Closed))
    }

    /// Appends events of any shape (the emulated org builds Salesforce-shaped ones) and returns
    /// their replay ids once they are durable.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<u64>, LogError> {
        self.log.append(events).await
    }

    /// A publish sent by a client over Bayeux: broadcast channels go to the log,
    /// `/service/**` channels to their server-side handler only. The reply waits until the
    /// event is durable and carries its replay id in `ext.replayId`.
    pub(super) async fn client_publish(&self, mut message: Message) -> Reply {
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
        if let Err(denied) = self
            .authenticator
            .can_publish(session.principal(), &channel)
        {
            return self.failure(&message, denied).with_client_id(session.id());
        }
        let Some(data) = message.data.take() else {
            return self
                .failure(&message, errors::DATA_NOT_SPECIFIED)
                .with_client_id(session.id());
        };
        let reply = Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id());
        if channel.kind() == ChannelKind::Service {
            self.services
                .dispatch(&session, &channel, &data, self.config.max_queue);
            return reply;
        }
        match self.publish(&channel, data).await {
            Ok(replay_id) => {
                let ext = format!(r#"{{"replayId":{replay_id}}}"#);
                match RawValue::from_string(ext) {
                    Ok(ext) => reply.with_ext(ext),
                    Err(_) => reply,
                }
            }
            Err(PublishError::Log(e)) => {
                tracing::error!(error = %e, "publish could not be stored");
                self.failure(&message, errors::event_not_stored(&e.to_string()))
                    .with_client_id(session.id())
            }
            Err(e) => {
                let error = errors::invalid_channel(&message.channel, &e.to_string());
                self.failure(&message, error).with_client_id(session.id())
            }
        }
    }
}
