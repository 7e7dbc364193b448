//! `/service/**` channels: messages for the server itself, never broadcast.
//!
//! A [`ServiceHandler`] registered for a channel pattern receives each message published there
//! and may answer the publishing session with data of its own, delivered to that session only
//! on the same channel (CometD's "service channel" pattern). A service message with no handler
//! is acknowledged and dropped, as CometD does.

use std::sync::Arc;

use parking_lot::RwLock;

use bayou_protocol::{encode_delivery, ChannelError, ChannelName};
use serde_json::value::RawValue;

use super::Session;

/// Handles messages published to a `/service/**` channel.
pub trait ServiceHandler: Send + Sync + 'static {
    /// Called for each message; a returned value is delivered back to `session` alone.
    fn handle(
        &self,
        session: &Session,
        channel: &ChannelName,
        data: &RawValue,
    ) -> Option<Box<RawValue>>;
}

#[derive(Default)]
pub(super) struct ServiceRegistry {
    handlers: RwLock<Vec<(ChannelName, Arc<dyn ServiceHandler>)>>,
}

impl ServiceRegistry {
    pub(super) fn register(
        &self,
        pattern: &str,
        handler: Arc<dyn ServiceHandler>,
    ) -> Result<(), ChannelError> {
        let pattern = ChannelName::parse(pattern)?;
        self.handlers.write().push((pattern, handler));
        Ok(())
    }

    /// Runs the first handler whose pattern matches `channel`.
    pub(super) fn dispatch(
        &self,
        session: &Session,
        channel: &ChannelName,
        data: &RawValue,
        max_queue: usize,
    ) {
        let handler = self
            .handlers
            .read()
            .iter()
            .find(|(pattern, _)| pattern.matches(channel.as_str()))
            .map(|(_, handler)| Arc::clone(handler));
        let Some(handler) = handler else {
            tracing::debug!(%channel, "service message with no handler");
            return;
        };
        if let Some(answer) = handler.handle(session, channel, data) {
            session.enqueue(encode_delivery(channel.as_str(), &answer).into(), max_queue);
        }
    }
}
