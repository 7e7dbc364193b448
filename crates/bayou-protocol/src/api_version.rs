//! The API version a client names in its `/cometd/{version}` path, and what it changes.
//!
//! Salesforce retired versions 23.0–36.0 of the Streaming API; Bayou accepts 37.0 and later by
//! default and, with `--min-api-version`, the older ones with their documented behaviour
//! (reference §1, API version table):
//!
//! | Version | Behaviour |
//! |---|---|
//! | < 29.0 | no `deleted`/`undeleted` PushTopic notifications |
//! | < 37.0 | no durable streaming: `ext.replay` is ignored, only new events arrive; `createdDate` ends `+0000` instead of `Z` |
//! | 36.0 on `/cometd/replay/36.0` | durable generic streaming (the legacy replay endpoint) |

/// An API version from a `/cometd/…` path.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct ApiVersion {
    version: f64,
    /// Named through the legacy `/cometd/replay/{v}` path.
    replay_path: bool,
}

/// The first durable version, and the default oldest one accepted.
pub const DURABLE_FROM: f64 = 37.0;
/// The oldest version Bayou can emulate (the first with the Streaming API).
pub const OLDEST: f64 = 23.0;
/// The first version with `deleted`/`undeleted` PushTopic notifications.
const DELETE_NOTIFICATIONS_FROM: f64 = 29.0;
/// The first version where Salesforce documents server-initiated `/meta/disconnect` messages.
const SERVER_DISCONNECT_FROM: f64 = 64.0;

impl ApiVersion {
    pub fn new(version: f64, replay_path: bool) -> Self {
        Self {
            version,
            replay_path,
        }
    }

    /// The current version (for sessions made without a path, such as in-process tests).
    pub fn current() -> Self {
        Self::new(crate::errors::CURRENT_API_VERSION_NUMBER, false)
    }

    pub fn number(self) -> f64 {
        self.version
    }

    /// Whether `ext.replay` is honoured: from 37.0, and on 36.0's legacy replay endpoint.
    pub fn is_durable(self) -> bool {
        self.version >= DURABLE_FROM || (self.replay_path && self.version >= 36.0)
    }

    /// Whether `createdDate` is written `2013-05-10T18:16:19.000+0000` (before 37.0).
    pub fn has_offset_dates(self) -> bool {
        self.version < DURABLE_FROM
    }

    /// Whether PushTopic `deleted` and `undeleted` notifications are sent (from 29.0).
    pub fn has_delete_notifications(self) -> bool {
        self.version >= DELETE_NOTIFICATIONS_FROM
    }

    /// Whether a session ended by the server is told with a `/meta/disconnect` message (from
    /// 64.0, Hyperforce autoscaling).
    pub fn has_server_disconnect(self) -> bool {
        self.version >= SERVER_DISCONNECT_FROM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_by_version() {
        let v = |n| ApiVersion::new(n, false);
        assert!(v(66.0).is_durable() && v(37.0).is_durable());
        assert!(!v(36.0).is_durable() && !v(24.0).is_durable());
        assert!(
            ApiVersion::new(36.0, true).is_durable(),
            "the legacy replay endpoint"
        );
        assert!(v(36.0).has_offset_dates() && !v(37.0).has_offset_dates());
        assert!(!v(28.0).has_delete_notifications() && v(29.0).has_delete_notifications());
        assert!(ApiVersion::current().is_durable());
    }
}
