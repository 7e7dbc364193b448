//! Notices: what the client did on its own, for the application to log or act on.
//!
//! Recovery is automatic, but never silent (reference §12, pain point 1): every re-handshake,
//! re-authentication, stall and replay gap is announced here.

use std::time::Duration;

/// Something the client's event loop did or saw. Read them with
/// [`Client::notices`](crate::Client::notices).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A handshake succeeded: a new session (`client_id`) on `transport`.
    Connected {
        client_id: String,
        transport: String,
    },
    /// The server confirmed a subscription.
    Subscribed {
        channel: String,
        replay_from: i64,
    },
    /// The server refused a subscription.
    SubscribeFailed {
        channel: String,
        error: String,
    },
    Unsubscribed {
        channel: String,
    },
    /// The session was lost (`403::Unknown client`, advice `handshake`, a server-sent
    /// `/meta/disconnect`): the client handshakes again and re-subscribes from the last ids.
    SessionLost {
        reason: String,
    },
    /// The server refused the token: the client logs in again through its auth provider.
    Reauthenticating {
        reason: String,
    },
    /// A transport error; the client retries after `retry_in`.
    TransportError {
        error: String,
        retry_in: Duration,
    },
    /// A message arrived that no JSON library could decode (a lone UTF-16 surrogate, nesting
    /// too deep): it was skipped, and the messages around it were delivered.
    Undecodable {
        channel: Option<String>,
        error: String,
    },
    /// A `/meta/connect` went unanswered past its timeout plus the grace period.
    Stalled {
        waited: Duration,
    },
    /// The stored replay id is no longer on the server: events between it and `resumed_from`
    /// may be missing. `resumed_from` is `None` when the policy is to fail.
    ReplayGap {
        channel: String,
        replay_id: i64,
        resumed_from: Option<i64>,
        error: String,
    },
    /// The application has not taken events for `waited`; the session may expire meanwhile, and
    /// the client will then resume by replay.
    SlowConsumer {
        waited: Duration,
    },
    /// The event loop ended; `error` says why when it was not asked to stop.
    Stopped {
        error: Option<String>,
    },
}
