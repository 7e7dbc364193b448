//! Channel names, their kinds, and wildcard matching.
//!
//! A Bayeux channel is a `/`-separated path such as `/chat/room1`. A *pattern* may end in one
//! wildcard segment: `*` matches exactly one more segment and `**` any number (at least one).
//! Wildcards appear only in subscriptions, never in a published channel.
//!
//! Routing a published message does not walk every subscription: [`ChannelName::wildcards`]
//! lists the few patterns that could match a channel (`/a/b/c` → `/a/b/*`, `/a/b/**`,
//! `/a/**`, `/**`), so the router does a handful of hash lookups per publish, whatever the
//! number of subscriptions. CometD calls the same idea `ChannelId.getWilds()`.
//!
//! Salesforce PushTopic subscriptions may carry a filter after `?`
//! (`/topic/Accounts?Industry='Energy'`); [`Subscription::parse`] keeps it apart from the name.

use std::fmt;

/// What a channel is for, decided by its first segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `/meta/**`: the protocol's own requests and replies.
    Meta,
    /// `/service/**`: requests to server-side handlers, never broadcast.
    Service,
    /// Everything else: delivered to every subscriber.
    Broadcast,
}

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("channel name is empty")]
    Empty,
    #[error("channel name must start with '/'")]
    NoLeadingSlash,
    #[error("channel name has an empty segment")]
    EmptySegment,
    #[error("channel name has a character that is not allowed: {0:?}")]
    BadCharacter(char),
    #[error("a wildcard may only be the whole last segment")]
    MisplacedWildcard,
    #[error("channel name is longer than {max} bytes")]
    TooLong { max: usize },
}

/// The longest channel name accepted, in bytes. Salesforce's longest names (StreamingChannel,
/// 80 characters plus `/u/`) are far below this.
pub const MAX_CHANNEL_LEN: usize = 512;

/// A validated channel name or pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    /// Validates `name` as a channel or a channel pattern.
    ///
    /// Segment characters follow the Bayeux grammar (letters, digits, `-_!~()$@`) plus `.`
    /// and `:`, which CometD accepts and real deployments use.
    pub fn parse(name: &str) -> Result<Self, ChannelError> {
        validate(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Meta, service or broadcast.
    pub fn kind(&self) -> ChannelKind {
        kind_of(&self.0)
    }

    /// True for `…/*` and `…/**`.
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with("/*") || self.0.ends_with("/**")
    }

    /// Whether this name, read as a pattern, matches the concrete channel `channel`.
    pub fn matches(&self, channel: &str) -> bool {
        pattern_matches(&self.0, channel)
    }

    /// The wildcard patterns that match this (concrete) channel, most specific first:
    /// `/a/b/c` gives `/a/b/*`, `/a/b/**`, `/a/**`, `/**`.
    pub fn wildcards(&self) -> Vec<String> {
        wildcards_of(&self.0)
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ChannelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A subscription as a client writes it: a channel name or pattern, and an optional filter
/// after `?` (Salesforce filtered PushTopic subscriptions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The whole string as the client sent it; delivered messages carry it as their channel.
    pub raw: String,
    /// The channel or pattern before any `?`.
    pub channel: ChannelName,
    /// The text after `?`, if any.
    pub filter: Option<String>,
}

impl Subscription {
    /// Splits off a filter and validates the channel part.
    pub fn parse(raw: &str) -> Result<Self, ChannelError> {
        let (name, filter) = match raw.split_once('?') {
            Some((name, filter)) => (name, Some(filter.to_owned())),
            None => (raw, None),
        };
        Ok(Self {
            raw: raw.to_owned(),
            channel: ChannelName::parse(name)?,
            filter,
        })
    }
}

/// The kind of a channel given as a plain string (no validation).
pub fn kind_of(name: &str) -> ChannelKind {
    if name == "/meta" || name.starts_with("/meta/") {
        ChannelKind::Meta
    } else if name == "/service" || name.starts_with("/service/") {
        ChannelKind::Service
    } else {
        ChannelKind::Broadcast
    }
}

fn validate(name: &str) -> Result<(), ChannelError> {
    if name.is_empty() {
        return Err(ChannelError::Empty);
    }
    if name.len() > MAX_CHANNEL_LEN {
        return Err(ChannelError::TooLong {
            max: MAX_CHANNEL_LEN,
        });
    }
    let Some(rest) = name.strip_prefix('/') else {
        return Err(ChannelError::NoLeadingSlash);
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() {
            return Err(ChannelError::EmptySegment);
        }
        if segment == "*" || segment == "**" {
            if !last {
                return Err(ChannelError::MisplacedWildcard);
            }
            continue;
        }
        for c in segment.chars() {
            if c == '*' {
                return Err(ChannelError::MisplacedWildcard);
            }
            if !is_segment_char(c) {
                return Err(ChannelError::BadCharacter(c));
            }
        }
    }
    Ok(())
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '-' | '_' | '!' | '~' | '(' | ')' | '$' | '@' | '.' | ':')
}

/// Pattern matching on plain strings; `pattern` may be a concrete name (exact match).
pub fn pattern_matches(pattern: &str, channel: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix("/**") {
        // `/**` matches every channel; `/a/**` matches `/a/x`, `/a/x/y`, not `/a`.
        channel.len() > prefix.len() + 1
            && channel.starts_with(prefix)
            && channel.as_bytes()[prefix.len()] == b'/'
    } else if let Some(prefix) = pattern.strip_suffix("/*") {
        channel.len() > prefix.len() + 1
            && channel.starts_with(prefix)
            && channel.as_bytes()[prefix.len()] == b'/'
            && !channel[prefix.len() + 1..].contains('/')
    } else {
        pattern == channel
    }
}

fn wildcards_of(channel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut end = channel.len();
    let mut first = true;
    while let Some(slash) = channel[..end].rfind('/') {
        let parent = &channel[..slash];
        if first {
            out.push(format!("{parent}/*"));
            first = false;
        }
        out.push(format!("{parent}/**"));
        end = slash;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_salesforce_channels() {
        for name in [
            "/topic/InvoiceStatementUpdates",
            "/event/Low_Ink__e",
            "/data/ChangeEvents",
            "/u/notifications/ExampleUserChannel",
            "/meta/handshake",
            "/chat/*",
            "/**",
            "/cometd/66.0",
        ] {
            assert!(ChannelName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_malformed_names() {
        assert_eq!(ChannelName::parse(""), Err(ChannelError::Empty));
        assert_eq!(
            ChannelName::parse("chat"),
            Err(ChannelError::NoLeadingSlash)
        );
        assert_eq!(ChannelName::parse("/"), Err(ChannelError::EmptySegment));
        assert_eq!(ChannelName::parse("/a//b"), Err(ChannelError::EmptySegment));
        assert_eq!(ChannelName::parse("/a/"), Err(ChannelError::EmptySegment));
        assert_eq!(
            ChannelName::parse("/a/*/b"),
            Err(ChannelError::MisplacedWildcard)
        );
        assert_eq!(
            ChannelName::parse("/a/b*"),
            Err(ChannelError::MisplacedWildcard)
        );
        assert_eq!(
            ChannelName::parse("/a b"),
            Err(ChannelError::BadCharacter(' '))
        );
        assert!(matches!(
            ChannelName::parse(&format!("/{}", "a".repeat(MAX_CHANNEL_LEN))),
            Err(ChannelError::TooLong { .. })
        ));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("/meta/connect"), ChannelKind::Meta);
        assert_eq!(kind_of("/service/echo"), ChannelKind::Service);
        assert_eq!(kind_of("/metadata"), ChannelKind::Broadcast);
        assert_eq!(kind_of("/services"), ChannelKind::Broadcast);
    }

    #[test]
    fn wildcard_matching() {
        assert!(pattern_matches("/a/*", "/a/b"));
        assert!(!pattern_matches("/a/*", "/a/b/c"));
        assert!(!pattern_matches("/a/*", "/a"));
        assert!(!pattern_matches("/a/*", "/ab/c"));
        assert!(pattern_matches("/a/**", "/a/b/c"));
        assert!(!pattern_matches("/a/**", "/a"));
        assert!(!pattern_matches("/a/**", "/ab/c"));
        assert!(pattern_matches("/**", "/x"));
        assert!(pattern_matches("/*", "/x"));
        assert!(!pattern_matches("/*", "/x/y"));
        assert!(pattern_matches("/a/b", "/a/b"));
    }

    #[test]
    fn wildcards_of_a_channel() {
        assert_eq!(
            wildcards_of("/a/b/c"),
            vec!["/a/b/*", "/a/b/**", "/a/**", "/**"]
        );
        assert_eq!(wildcards_of("/a"), vec!["/*", "/**"]);
    }

    #[test]
    fn subscription_filter_is_split_off() {
        let s = Subscription::parse("/topic/Accounts?Industry='Energy'&City='Paris'").unwrap();
        assert_eq!(s.channel.as_str(), "/topic/Accounts");
        assert_eq!(s.filter.as_deref(), Some("Industry='Energy'&City='Paris'"));
    }
}
