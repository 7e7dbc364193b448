//! What can go wrong, in three layers: logging in ([`AuthError`]), moving bytes
//! ([`TransportError`]) and the client as a whole ([`ClientError`]).
//!
//! The split matters for recovery: a transport error is retried with backoff, an auth error
//! that says the credentials are wrong stops the client (retrying would only lock the user
//! out), and a Bayeux error is acted on by its code.

/// Logging in failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The server refused the credentials (`invalid_grant`, a SOAP fault, …): retrying with the
    /// same ones cannot help.
    #[error("login refused: {0}")]
    Refused(String),
    /// The login endpoint could not be reached or answered something unreadable; worth retrying.
    #[error("login failed: {0}")]
    Unavailable(String),
    /// The provider cannot produce a new token (a static token that was revoked).
    #[error("{0}")]
    CannotRenew(String),
}

impl AuthError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Unavailable(_))
    }
}

/// Sending or receiving Bayeux messages failed below the Bayeux level.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("HTTP request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("HTTP {status} from {url}")]
    Status { url: String, status: u16 },
    #[error("the server's reply is not a Bayeux message array: {0}")]
    Malformed(String),
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The server refused to open a WebSocket for these credentials (HTTP 401 on the upgrade,
    /// Bayou's answer to a missing or dead token); `reason` is its `code::text` when given.
    #[error("WebSocket upgrade to {url} refused: {reason}")]
    Unauthorized { url: String, reason: String },
    #[error("the connection was closed")]
    Closed,
}

/// An error from the client's API.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("invalid channel {channel}: {reason}")]
    InvalidChannel { channel: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server answered with `successful: false`; `error` is its `code::text` string.
    #[error("{channel}: {error}")]
    Bayeux { channel: String, error: String },
    /// The stored replay id is older than the server keeps (or unknown to it) and the policy
    /// is [`ExpiredReplay::Fail`](crate::ExpiredReplay::Fail).
    #[error("replay id {replay_id} of {channel} is no longer available on the server: {error}")]
    ReplayIdExpired {
        channel: String,
        replay_id: i64,
        error: String,
    },
    #[error("replay store: {0}")]
    ReplayStore(String),
    /// The event stream can be taken once (one consumer stores the replay ids).
    #[error("events() was already called on this client")]
    EventsTaken,
    /// The client is not running (never started, or stopped).
    #[error("the client is stopped")]
    Stopped,
    #[error("no reply from the server within {0:?}")]
    Timeout(std::time::Duration),
}
