//! Publishing: the one path every event takes to its subscribers.
//!
//! [`Engine::publish`] encodes the event once, with its replay id, and appends it to the log;
//! it returns when the event is durable. Nobody is delivered to here: the dispatcher follows
//! the log's tail and routes every event, whoever appended it, so there is exactly one place
//! where delivery happens. Client publishes over Bayeux come through `client_publish`, which
//! checks the channel and replies once the event is stored.

use bayou_log::{AppendFuture, LogError, NewEvent};
use bayou_protocol::{
    encode_bayeux_event, errors, Advice, ChannelKind, ChannelName, Message, Reply,
};
use serde_json::value::RawValue;

use super::Engine;
use crate::metrics as m;
use crate::policy::Credentials;

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
    pub(super) async fn client_publish(
        &self,
        message: Message,
        credentials: &Credentials,
    ) -> Reply {
        let mut replies = self.client_publishes(vec![message], credentials).await;
        replies.pop().unwrap_or_else(|| {
            Reply::failure(
                "/meta/unsuccessful",
                None,
                errors::event_not_stored("no reply"),
            )
        })
    }

    /// Publishes sent together (consecutive messages of one request or frame, see
    /// [`Segment`](super::Segment)): each is checked on its own, all that pass are stored in
    /// one log append, and the replies come back in the messages' order. One append instead of
    /// one per message: a publisher's batch of ten costs one trip to the log writer, not ten
    /// in a row, each of which could wait for a busy core.
    pub async fn client_publishes(
        &self,
        messages: Vec<Message>,
        credentials: &Credentials,
    ) -> Vec<Reply> {
        self.queue_publishes(messages, credentials)
            .await
            .replies()
            .await
    }

    /// [`client_publishes`](Self::client_publishes) in two steps: this checks the publishes
    /// and queues their events in the log (resolving once they have their place in it), and
    /// [`QueuedPublishes::replies`] waits until they are stored. A WebSocket connection queues
    /// frame after frame and answers each when its events are stored, so one publisher has
    /// many publishes in flight, stored in the order it sent them.
    pub async fn queue_publishes(
        &self,
        messages: Vec<Message>,
        credentials: &Credentials,
    ) -> QueuedPublishes {
        let mut replies = Vec::with_capacity(messages.len());
        // Index in `replies` of each event to store, in append order.
        let mut stored_at = Vec::new();
        let mut events = Vec::new();
        for message in messages {
            match self.check_publish(message, credentials) {
                Checked::Done(reply) => replies.push(reply),
                Checked::Store(reply, event) => {
                    stored_at.push(replies.len());
                    replies.push(reply);
                    events.push(event);
                }
            }
        }
        let appended = if events.is_empty() {
            None
        } else {
            Some(self.log.queue_append(events).await)
        };
        QueuedPublishes {
            replies,
            stored_at,
            appended,
            advice: self.retry_advice(),
        }
    }

    /// Everything about a client publish but storing it: the session, the channel, the
    /// permission, the data; a `/service/**` message is handled here and then.
    fn check_publish(&self, mut message: Message, credentials: &Credentials) -> Checked {
        let session = match self.session_for(&message, credentials) {
            Ok(session) => session,
            Err(reply) => return Checked::Done(*reply),
        };
        let fail = |message: &Message, error: String| {
            Checked::Done(self.failure(message, error).with_client_id(session.id()))
        };
        let channel = match ChannelName::parse(&message.channel) {
            Ok(channel) if !channel.is_wildcard() => channel,
            Ok(_) => {
                let error =
                    errors::invalid_channel(&message.channel, "cannot publish to a wildcard");
                return fail(&message, error);
            }
            Err(e) => {
                let error = errors::invalid_channel(&message.channel, &e.to_string());
                return fail(&message, error);
            }
        };
        if let Err(denial) = self.policy.can_publish(session.principal(), &channel) {
            return fail(&message, denial.reason());
        }
        let Some(data) = message.data.take() else {
            return fail(&message, errors::DATA_NOT_SPECIFIED.to_owned());
        };
        if let Err(why) = bayou_protocol::portable::check(data.get()) {
            return fail(&message, errors::malformed_message(&why.to_string()));
        }
        let reply = Reply::success(message.channel.clone(), message.id.clone())
            .with_client_id(session.id());
        if channel.kind() == ChannelKind::Service {
            self.services
                .dispatch(&session, &channel, &data, self.config.max_queue);
            return Checked::Done(reply);
        }
        let name = message.channel;
        let event = NewEvent {
            channel: name.clone(),
            encode: Box::new(move |replay_id, created_ms| {
                encode_bayeux_event(&name, &data, replay_id, created_ms)
            }),
            audience: None,
        };
        Checked::Store(reply, event)
    }
}

/// Client publishes whose events are queued in the log: [`replies`](Self::replies) waits until
/// they are stored and answers each message.
pub struct QueuedPublishes {
    /// One per message, in the messages' order; those of stored events get their replay id.
    replies: Vec<Reply>,
    /// Index in `replies` of each event queued, in append order.
    stored_at: Vec<usize>,
    /// The append (none when nothing was to be stored), or why it could not be queued.
    appended: Option<Result<AppendFuture, LogError>>,
    /// Advice of a failure reply.
    advice: Advice,
}

impl QueuedPublishes {
    /// The replies, once the events are stored (or with Salesforce's error when they are not).
    pub async fn replies(self) -> Vec<Reply> {
        let Self {
            mut replies,
            stored_at,
            appended,
            advice,
        } = self;
        let Some(appended) = appended else {
            return replies;
        };
        let appended = match appended {
            Ok(stored) => stored.await,
            Err(e) => Err(e),
        };
        let appended = appended.and_then(|ids| {
            if ids.len() == stored_at.len() {
                Ok(ids)
            } else {
                Err(LogError::Storage(format!(
                    "{} replay ids for {} events",
                    ids.len(),
                    stored_at.len()
                )))
            }
        });
        match appended {
            Ok(ids) => {
                metrics::counter!(m::PUBLISHED).increment(ids.len() as u64);
                for (at, replay_id) in stored_at.into_iter().zip(ids) {
                    let ext = format!(r#"{{"replayId":{replay_id}}}"#);
                    if let Ok(ext) = RawValue::from_string(ext) {
                        replies[at].ext = Some(ext);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "publish could not be stored");
                let error = errors::event_not_stored(&e.to_string());
                for at in stored_at {
                    let reply = &mut replies[at];
                    let failed = Reply::failure(reply.channel.clone(), reply.id.clone(), &error)
                        .with_advice(advice);
                    *reply = Reply {
                        client_id: reply.client_id.take(),
                        ..failed
                    };
                }
            }
        }
        replies
    }
}

/// What checking a client publish decided.
enum Checked {
    /// Answered already (refused, or handled by a service).
    Done(Reply),
    /// To store; the reply gets its replay id once the event is durable.
    Store(Reply, NewEvent),
}
