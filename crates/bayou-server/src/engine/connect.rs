//! `/meta/connect`: where a long-poll is held.
//!
//! The engine decides *whether* a connect may be held; the transport does the waiting
//! ([`Session::wait_for_messages`] for long-polling, its socket loop for WebSocket) and then
//! asks [`Engine::finish_connect`] for the reply. The rules are CometD's and Salesforce's:
//!
//! - the first connect after a handshake is answered at once, with advice
//!   `{"reconnect":"retry","interval":0,"timeout":110000}`;
//! - a connect batched with other messages, or asking `advice.timeout: 0`, is answered at once;
//! - otherwise it is held up to `timeout` and answered as soon as messages are queued, the
//!   messages first and the connect reply last;
//! - a new connect releases the one it replaces (which then carries no messages: its client
//!   may have given up on it).

use std::sync::Arc;
use std::time::Duration;

use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::{errors, Advice, Message, Reply};
use bytes::Bytes;

use super::{millis, CloseReason, Engine, RequestContext, Session, Step, WaitOutcome};
use crate::config::TransportKind;

/// A connect the transport answers, perhaps after holding it.
#[derive(Debug)]
pub struct ConnectStep {
    pub session: Arc<Session>,
    /// The reply to send when the connect ends normally.
    pub reply: Reply,
    /// `Some(d)`: hold up to `d` waiting for messages; `None`: answer now.
    pub hold: Option<Duration>,
    /// This connect's number; a newer connect makes it stale.
    pub generation: u64,
}

impl Engine {
    pub(super) fn connect(&self, message: Message, ctx: RequestContext<'_>) -> Step {
        let session = match self.session_for(&message, ctx.credentials) {
            Ok(session) => session,
            Err(reply) => {
                let limited = message
                    .client_id
                    .as_deref()
                    .filter(|id| self.take_limited(id));
                return Step::Reply(match limited {
                    Some(client_id) => daily_limit_failure(&message, client_id),
                    None => *reply,
                });
            }
        };

        if let Some(requested) = message.connection_type.as_deref() {
            if !TransportKind::from_name(requested).is_some_and(|t| self.config.offers(t)) {
                let reply = Reply::failure(
                    message.channel,
                    message.id,
                    errors::invalid_connection_type(requested),
                )
                .with_client_id(session.id())
                .with_advice(Advice::handshake());
                return Step::Reply(reply);
            }
        }
        if !self.policy.is_session_valid(session.principal()) {
            self.remove_session(session.id(), CloseReason::AuthInvalid);
            let reply = Reply::failure(message.channel, message.id, errors::AUTHENTICATION_INVALID)
                .with_client_id(session.id())
                .with_advice(Advice::none());
            return Step::Reply(reply);
        }

        let (first, generation) = session.begin_connect();
        let mut reply = Reply::success(message.channel, message.id).with_client_id(session.id());
        let client_timeout = message.advice.and_then(|a| a.timeout);
        let hold = if first {
            reply.advice = Some(self.retry_advice());
            None
        } else if ctx.batch_len > 1 || client_timeout == Some(0) || self.is_shutting_down() {
            None
        } else {
            let server = self.config.hold_duration();
            Some(client_timeout.map_or(server, |t| Duration::from_millis(t).min(server)))
        };
        Step::Connect(ConnectStep {
            session,
            reply,
            hold,
            generation,
        })
    }

    /// Holds a long-polling connect: waits for messages (up to `hold`), then returns the
    /// messages and the reply to send, messages first.
    pub async fn hold_connect(&self, step: ConnectStep) -> (Vec<Bytes>, Reply) {
        // Boxed, and only while catching up: the hold's own state stays small.
        if step.session.is_catching_up() {
            Box::pin(self.fill_from_log(&step.session)).await;
        }
        let outcome = match step.hold {
            None => {
                step.session.end_connect();
                WaitOutcome::Messages(step.session.drain(self.config.max_messages_per_reply))
            }
            Some(hold) => {
                // Dropped when the wait ends, however it ends: that stamps the connect's end.
                let _held = step.session.hold();
                let deadline = tokio::time::Instant::now() + hold;
                step.session
                    .wait_for_messages(
                        step.generation,
                        deadline,
                        self.config.max_messages_per_reply,
                    )
                    .await
            }
        };
        self.finish_connect(step.reply, outcome, step.session.api_version())
    }

    /// The messages and reply that end a connect of a session on `version`, given how its
    /// wait ended.
    pub fn finish_connect(
        &self,
        reply: Reply,
        outcome: WaitOutcome,
        version: ApiVersion,
    ) -> (Vec<Bytes>, Reply) {
        match outcome {
            WaitOutcome::Messages(messages) => (messages, reply),
            WaitOutcome::Timeout | WaitOutcome::Superseded => (Vec::new(), reply),
            // As CometD does: the client asked to go, so tell it not to come back.
            WaitOutcome::Closed(CloseReason::Disconnected) => {
                (Vec::new(), reply.with_advice(Advice::none()))
            }
            WaitOutcome::Closed(CloseReason::Shutdown) => {
                let advice = Advice::retry(millis(self.config.timeout), 1_000);
                (Vec::new(), reply.with_advice(advice))
            }
            WaitOutcome::Closed(CloseReason::DailyLimit) => (
                Vec::new(),
                to_failure(reply, errors::DAILY_EVENT_LIMIT, Advice::none()),
            ),
            WaitOutcome::Closed(CloseReason::AuthInvalid) => (
                Vec::new(),
                to_failure(reply, errors::AUTHENTICATION_INVALID, Advice::none()),
            ),
            WaitOutcome::Closed(CloseReason::Expired | CloseReason::QueueOverflow) => (
                Vec::new(),
                to_failure(reply, errors::UNKNOWN_CLIENT, Advice::handshake()),
            ),
            // Salesforce's shape: a bare `{"channel":"/meta/disconnect"}` first, then the
            // connect's failure.
            WaitOutcome::Closed(CloseReason::ServerDisconnect) => {
                let notice = version
                    .has_server_disconnect()
                    .then(|| Bytes::from_static(br#"{"channel":"/meta/disconnect"}"#));
                (
                    notice.into_iter().collect(),
                    to_failure(reply, errors::UNKNOWN_CLIENT, Advice::handshake()),
                )
            }
        }
    }
}

fn daily_limit_failure(message: &Message, client_id: &str) -> Reply {
    Reply::failure(
        message.channel.clone(),
        message.id.clone(),
        errors::DAILY_EVENT_LIMIT,
    )
    .with_client_id(client_id)
    .with_advice(Advice::none())
}

fn to_failure(reply: Reply, error: &str, advice: Advice) -> Reply {
    Reply {
        successful: false,
        error: Some(error.to_owned()),
        advice: Some(advice),
        ..reply
    }
}
