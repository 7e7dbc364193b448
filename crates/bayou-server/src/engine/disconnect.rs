//! `/meta/disconnect`: ends a session at the client's request; a held connect is answered.

use bayou_protocol::{Message, Reply};

use super::{CloseReason, Engine};
use crate::policy::Credentials;

impl Engine {
    pub(super) fn disconnect(&self, message: Message, credentials: &Credentials) -> Reply {
        let session = match self.session_for(&message, credentials) {
            Ok(session) => session,
            Err(reply) => return *reply,
        };
        self.remove_session(session.id(), CloseReason::Disconnected);
        Reply::success(message.channel, message.id).with_client_id(session.id())
    }
}
