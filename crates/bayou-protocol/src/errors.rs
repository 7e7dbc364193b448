//! The `code::text` error strings that go in a reply's `error` field.
//!
//! Clients match these strings literally (EMP-Connector, CometD.NetCore and jsforce all do), so
//! the Salesforce ones are byte-exact copies of what Salesforce sends, double spaces included.
//! Errors Salesforce has no text for (malformed messages, unknown meta channels) use the same
//! `code::text` form with wording of our own.

/// The API version Salesforce's error texts quote as the example URI.
pub const CURRENT_API_VERSION: &str = "66.0";
/// [`CURRENT_API_VERSION`] as a number.
pub const CURRENT_API_VERSION_NUMBER: f64 = 66.0;

/// The oldest API version the streaming endpoint accepts by default (Salesforce retired the
/// older ones); `--min-api-version` emulates them.
pub const MIN_API_VERSION: f64 = 37.0;

pub const UNKNOWN_CLIENT: &str = "403::Unknown client";
pub const HANDSHAKE_DENIED: &str = "403::Handshake denied";
pub const CLIENT_NOT_HANDSHAKEN: &str = "403::Client has not completed handshake";
pub const RESTRICTED_CHANNEL: &str = "403::Restricted channel";
pub const AUTHENTICATION_INVALID: &str = "401::Authentication invalid";
pub const REQUEST_REQUIRES_AUTHENTICATION: &str = "401::Request requires authentication";
pub const CHANNEL_NOT_SPECIFIED: &str = "400::Channel name not specified";
pub const CHANNEL_LEADING_SLASH: &str = "400::Channel subscriptions must start with a leading '/'";
pub const MAXIMUM_REQUEST_SIZE: &str = "413::Maximum Request Size Exceeded";
pub const CONCURRENT_CLIENT_LIMIT: &str = "403::Organization concurrent user limit exceeded";
pub const DAILY_EVENT_LIMIT: &str = "403::Organization total events daily limit exceeded";
pub const UNKNOWN_CHANNEL: &str = "404::Unknown channel";
/// A request for a session with another user's credentials (Salesforce's text for the same
/// check in empApi's "log in as").
pub const SESSION_USER_MISMATCH: &str =
    "400::Authenticated user id does not match the session's user id";
pub const CHANNEL_CASE_MISMATCH: &str = "404::channel names may not vary only by case";
pub const CHANNEL_LIMIT_EXCEEDED: &str =
    "403::Unable to create channel dynamically, maximum channel limit has been exceeded";
/// Salesforce's refusal of a handshake when one origin holds too many connections (in
/// `ext.sfdc.failureReason`, with `403::Handshake denied`).
pub const TOO_MANY_CONNECTIONS: &str = "403::To protect all customers from excessive use and \
     Denial of Service attacks, we limit the number of simultaneous connections per server. Your \
     request has been denied because this limit has been exceeded. Please try your request again \
     later.";
pub const SERVER_TOO_BUSY: &str = "503::Server is too busy.  Please try your request again later.";

/// `400::API version in the URI is mandatory. URI format: '/cometd/66.0'`
pub fn api_version_mandatory() -> String {
    format!("400::API version in the URI is mandatory. URI format: '/cometd/{CURRENT_API_VERSION}'")
}

/// `400::Unsupported API version. Only API versions '37.0' and later are supported. …`, with
/// the oldest version the server accepts (37.0 unless older ones are emulated).
pub fn api_version_unsupported(oldest: f64) -> String {
    format!(
        "400::Unsupported API version. Only API versions '{oldest:.1}' and later are supported. \
         URI format: '/cometd/{CURRENT_API_VERSION}'"
    )
}

/// `400::Invalid connection type {type}`
pub fn invalid_connection_type(connection_type: &str) -> String {
    format!("400::Invalid connection type {connection_type}")
}

/// `400::The replayId {id} you provided was invalid.  Please provide …` (two spaces).
pub fn replay_id_invalid(replay_id: &str) -> String {
    format!(
        "400::The replayId {{{replay_id}}} you provided was invalid.  Please provide a valid ID, \
         -2 to replay all events, or -1 to replay only new events."
    )
}

/// `400::The replayId for channel {ch} wasn't found using the provided replay ID map {map}. …`
pub fn replay_map_missing_channel(channel: &str, map: &str) -> String {
    format!(
        "400::The replayId for channel {{{channel}}} wasn't found using the provided replay ID \
         map {{{map}}}. Ensure that the channel name you provided in the replay map is valid and \
         matches the channel name used for subscribing."
    )
}

/// `400::The channel you requested to subscribe to doesn’t exist {channel}` (typographic
/// apostrophe, as in Salesforce's table).
pub fn channel_does_not_exist(channel: &str) -> String {
    format!("400::The channel you requested to subscribe to doesn\u{2019}t exist {channel}")
}

/// A channel name that is not valid Bayeux.
pub fn invalid_channel(channel: &str, why: &str) -> String {
    format!("400::Invalid channel {channel}: {why}")
}

/// A `/meta/*` channel this server does not implement.
pub fn unknown_meta_channel(channel: &str) -> String {
    format!("400::Unknown meta channel {channel}")
}

/// A message whose fields have the wrong JSON types.
pub fn malformed_message(why: &str) -> String {
    format!("400::Malformed message: {why}")
}

/// A publish without `data`.
pub const DATA_NOT_SPECIFIED: &str = "400::Message data not specified";

/// A request carrying more messages than the configured batch limit.
pub fn too_many_messages(count: usize, max: usize) -> String {
    format!("400::Too many messages in one request: {count} (the limit is {max})")
}

/// The body is not JSON.
pub fn malformed_json(why: &str) -> String {
    format!("400::Malformed JSON: {why}")
}

/// The event log could not store a published event.
pub fn event_not_stored(why: &str) -> String {
    format!("500::Event could not be stored: {why}")
}

/// A subscribe that would take a session past its subscription limit.
pub fn too_many_subscriptions(max: usize) -> String {
    format!("403::Too many subscriptions in one session (the limit is {max})")
}

/// Publishing to a channel the server refuses publishes on.
pub fn publish_denied(channel: &str) -> String {
    format!("403::Publish denied on channel {channel}")
}

/// A reply's `error` read back into its parts, so that a client matches a code rather than a
/// string prefix. Bayeux writes errors as `code:args:message`; Salesforce leaves `args` empty
/// (`401::Authentication invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BayeuxError<'a> {
    /// The HTTP-like status code: 400, 401, 403, 404, 413, 500, 503…
    pub code: u16,
    /// The comma-separated arguments between the two colons (empty from Salesforce).
    pub args: &'a str,
    /// The human-readable text.
    pub message: &'a str,
}

impl<'a> BayeuxError<'a> {
    /// Reads `code:args:message`; `None` when `text` is not in that form.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (code, rest) = text.split_once(':')?;
        let (args, message) = rest.split_once(':')?;
        let code = code.parse().ok().filter(|c| (100..1000).contains(c))?;
        Some(Self {
            code,
            args,
            message,
        })
    }

    /// The credentials were missing, expired or revoked (Salesforce's `401::…`): log in again.
    /// faye's `401:<clientId>:Unknown client` carries arguments and is not one: it asks for a
    /// new handshake, not a new login.
    pub fn is_authentication(&self) -> bool {
        self.code == 401 && self.args.is_empty()
    }

    /// The replay id asked for is not (or no longer) in the log:
    /// [`replay_id_invalid`]'s text.
    pub fn is_invalid_replay_id(&self) -> bool {
        self.code == 400
            && self.message.starts_with("The replayId {")
            && self.message.contains("you provided was invalid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_read_back_into_their_parts() {
        let e = BayeuxError::parse(AUTHENTICATION_INVALID).unwrap();
        assert_eq!(
            (e.code, e.args, e.message),
            (401, "", "Authentication invalid")
        );
        assert!(e.is_authentication());
        let e = BayeuxError::parse("402:abc,def:session_unknown").unwrap();
        assert_eq!(
            (e.code, e.args, e.message),
            (402, "abc,def", "session_unknown")
        );
        // A message may itself contain colons.
        let e = BayeuxError::parse("400::Invalid channel /a: why").unwrap();
        assert_eq!(e.message, "Invalid channel /a: why");
        assert!(BayeuxError::parse(&replay_id_invalid("5"))
            .unwrap()
            .is_invalid_replay_id());
        assert!(!BayeuxError::parse(UNKNOWN_CLIENT)
            .unwrap()
            .is_invalid_replay_id());
        for junk in ["", "Authentication invalid", "abc::x", "40::x", "401:x"] {
            assert_eq!(BayeuxError::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn replay_text_has_the_double_space() {
        assert_eq!(
            replay_id_invalid("82"),
            "400::The replayId {82} you provided was invalid.  Please provide a valid ID, -2 to \
             replay all events, or -1 to replay only new events."
        );
    }

    #[test]
    fn replay_map_text_matches_salesforce() {
        assert_eq!(
            replay_map_missing_channel("/topic/topicName", "{}"),
            "400::The replayId for channel {/topic/topicName} wasn't found using the provided \
             replay ID map {{}}. Ensure that the channel name you provided in the replay map is \
             valid and matches the channel name used for subscribing."
        );
    }

    #[test]
    fn version_texts() {
        assert_eq!(
            api_version_mandatory(),
            "400::API version in the URI is mandatory. URI format: '/cometd/66.0'"
        );
        assert_eq!(
            api_version_unsupported(MIN_API_VERSION),
            "400::Unsupported API version. Only API versions '37.0' and later are supported. \
             URI format: '/cometd/66.0'"
        );
    }
}
