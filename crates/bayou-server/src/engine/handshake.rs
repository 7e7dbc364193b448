//! `/meta/handshake`: authenticates the client and opens a session.
//!
//! Every reply — success or failure — carries `ext: {"replay": true, "payload.format": true}`:
//! the Salesforce replay extensions in jsforce, EMP-Connector and the Salesforce JS samples only
//! switch replay on when the handshake reply says so. A successful reply has no advice, as
//! Salesforce's has none; the first connect brings it.

use std::sync::Arc;

use bayou_protocol::{errors, Advice, Message, Reply, BAYEUX_VERSION};
use serde_json::value::RawValue;

use super::{Engine, RequestContext, Session};
use crate::metrics as m;

const REPLAY_EXT: &str = r#"{"replay":true,"payload.format":true}"#;

fn replay_ext() -> Box<RawValue> {
    raw(REPLAY_EXT)
}

fn raw(json: &str) -> Box<RawValue> {
    // Only called with the constant JSON texts of this file.
    RawValue::from_string(json.to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// A new opaque client id: 128 random bits in lowercase base 36, like Salesforce's.
fn new_client_id() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n: u128 = rand::random();
    let mut out = Vec::with_capacity(25);
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.push(b'1');
    out.iter().rev().map(|&b| b as char).collect()
}

/// `403::Handshake denied` with the cause in `ext.sfdc.failureReason`, advice none.
fn denied(message: Message, failure_reason: &str) -> Reply {
    let ext = format!(
        r#"{{"sfdc":{{"failureReason":"{failure_reason}"}},"replay":true,"payload.format":true}}"#
    );
    Reply::failure(message.channel, message.id, errors::HANDSHAKE_DENIED)
        .with_advice(Advice::none())
        .with_ext(raw(&ext))
}

impl Engine {
    pub(super) async fn handshake(&self, message: Message, ctx: RequestContext<'_>) -> Reply {
        metrics::counter!(m::HANDSHAKES).increment(1);
        let offered = self.offered_types();
        if let Some(requested) = &message.supported_connection_types {
            if !requested.iter().any(|t| offered.contains(&t.as_str())) {
                let error = errors::invalid_connection_type(&requested.join(","));
                return Reply::failure(message.channel, message.id, error)
                    .with_advice(Advice::none())
                    .with_ext(replay_ext());
            }
        }
        if self.is_shutting_down() {
            return Reply::failure(message.channel, message.id, errors::SERVER_TOO_BUSY)
                .with_advice(Advice::handshake())
                .with_ext(replay_ext());
        }
        let principal = match self.can_handshake_settled(ctx.credentials).await {
            Ok(principal) => principal,
            Err(denial) => {
                let reason = denial.reason();
                tracing::info!(reason, "handshake denied");
                return denied(message, &reason);
            }
        };
        if self.handshake_refused_by_fault() {
            return denied(message, errors::CONCURRENT_CLIENT_LIMIT);
        }
        let client_id = new_client_id();
        let session = Arc::new(Session::new(
            client_id.clone(),
            principal,
            ctx.credentials.remote_addr.map(|a| a.ip()),
            self.config.max_queue_bytes,
            ctx.api_version,
        ));
        {
            // Checked and inserted under one lock, so concurrent handshakes cannot overshoot.
            let mut sessions = self.sessions.write();
            if self
                .config
                .max_sessions
                .is_some_and(|max| sessions.len() >= max)
            {
                drop(sessions);
                return denied(message, errors::CONCURRENT_CLIENT_LIMIT);
            }
            let mut counts = self.session_counts.lock();
            let (per_user, per_address) = (
                self.config.max_sessions_per_user,
                self.config.max_sessions_per_address,
            );
            if !counts.admits(session.origin(), per_user, per_address) {
                drop(counts);
                drop(sessions);
                metrics::counter!(m::REQUESTS_REFUSED, "reason" => "sessions_per_origin")
                    .increment(1);
                return denied(message, errors::TOO_MANY_CONNECTIONS);
            }
            counts.add(session.origin());
            drop(counts);
            sessions.insert(client_id.clone(), session);
        }
        metrics::gauge!(m::SESSIONS).increment(1.0);
        tracing::debug!(client_id, transport = ctx.transport.name(), "handshake");

        let mut reply = Reply::success(message.channel, message.id).with_client_id(client_id);
        // `ext.replay: true` tells clients (jsforce's Replay extension) replay is on: not on
        // versions before durable streaming.
        if ctx.api_version.is_durable() {
            reply = reply.with_ext(replay_ext());
        }
        reply.version = Some(BAYEUX_VERSION);
        reply.minimum_version = Some(BAYEUX_VERSION);
        reply.supported_connection_types = Some(offered);
        reply
    }

    /// Connection types offered, in the configured order.
    pub(super) fn offered_types(&self) -> Vec<&'static str> {
        self.config.transports.iter().map(|t| t.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_opaque_base36() {
        let a = new_client_id();
        let b = new_client_id();
        assert_ne!(a, b);
        assert!(a.len() >= 20 && a.len() <= 27, "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }
}
