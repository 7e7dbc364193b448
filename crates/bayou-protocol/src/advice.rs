//! The `advice` object: how the server tells a client to reconnect.
//!
//! Clients differ in how they merge advice (CometD JS replaces the whole object on every
//! message, faye merges field by field), so every failure reply carries a *complete* advice —
//! `reconnect` and `interval`, plus `timeout` on connects — and nothing is left to a default.

use serde::Serialize;

/// What the client should do after this reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconnect {
    /// Send the next `/meta/connect` after `interval`.
    Retry,
    /// The session is gone: handshake again.
    Handshake,
    /// Stop; do not reconnect (authentication failures, limits).
    None,
}

/// Advice as the server sends it. Fields left `None` are omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Advice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<Reconnect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(rename = "multiple-clients", skip_serializing_if = "Option::is_none")]
    pub multiple_clients: Option<bool>,
}

impl Advice {
    /// `{"reconnect":"retry","interval":…,"timeout":…}`: the advice of a first connect.
    pub fn retry(timeout_ms: u64, interval_ms: u64) -> Self {
        Self {
            reconnect: Some(Reconnect::Retry),
            interval: Some(interval_ms),
            timeout: Some(timeout_ms),
            multiple_clients: None,
        }
    }

    /// `{"reconnect":"handshake","interval":0}`: the session is unknown.
    pub fn handshake() -> Self {
        Self {
            reconnect: Some(Reconnect::Handshake),
            interval: Some(0),
            ..Self::default()
        }
    }

    /// `{"reconnect":"none","interval":0}`: stop (authentication failures).
    pub fn none() -> Self {
        Self {
            reconnect: Some(Reconnect::None),
            interval: Some(0),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_salesforce() {
        assert_eq!(
            serde_json::to_string(&Advice::retry(110_000, 0)).unwrap(),
            r#"{"reconnect":"retry","interval":0,"timeout":110000}"#
        );
        assert_eq!(
            serde_json::to_string(&Advice::handshake()).unwrap(),
            r#"{"reconnect":"handshake","interval":0}"#
        );
    }
}
