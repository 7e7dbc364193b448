//! Where things live in NATS: the subjects of the log stream and the names of the buckets.
//!
//! Events and record writes share one stream, so that a record change and the events it causes
//! go into one atomic batch and every message gets the next value of one sequence (the replay
//! id). An event of channel `/topic/Accounts` is published on `<prefix>.ev.topic.Accounts`, so
//! a replay of one channel or of a wildcard (`/chat/*` → `<prefix>.ev.chat.*`, `/event/**` →
//! `<prefix>.ev.event.>`) is a server-side subject filter, not a scan. A record write is
//! published on `<prefix>.rec.k<hex of the key>`.
//!
//! Channel segments may hold characters a subject token may not (`.`, whitespace, `*`, `>`), so
//! every byte outside `[A-Za-z0-9_-]` is written `~XX` (hex): reversible, and the same for a
//! channel and for the pattern that matches it.

use std::fmt::Write as _;

/// The names one Bayou org uses in NATS, derived from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the cluster prefix {0:?} must be 1 to 32 characters of A-Z, a-z, 0-9, _ and -")]
pub struct BadPrefix(pub String);

impl Names {
    /// The names under `prefix` (letters, digits, `_`, `-`).
    pub fn new(prefix: &str) -> Result<Self, BadPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 32
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(BadPrefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// Where nodes ask each other who is subscribed to a channel (plain NATS request and
    /// replies, outside the stream).
    pub fn presence(&self) -> String {
        format!("{}.presence", self.prefix)
    }

    /// The stream holding events and record writes.
    pub fn log_stream(&self) -> String {
        format!("{}_log", self.prefix)
    }

    /// A KV bucket of this org (`tokens`, `positions`, `counters`, `nodes`).
    pub fn bucket(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix)
    }

    /// Every subject of the log stream.
    pub fn log_subjects(&self) -> Vec<String> {
        vec![self.all_events(), self.all_records()]
    }

    /// Every record subject.
    pub fn all_records(&self) -> String {
        format!("{}.rec.>", self.prefix)
    }

    /// Every event subject.
    pub fn all_events(&self) -> String {
        format!("{}.ev.>", self.prefix)
    }

    /// The subject an event of `channel` is published on.
    pub fn event_subject(&self, channel: &str) -> String {
        let mut subject = format!("{}.ev", self.prefix);
        for segment in channel.split('/').filter(|s| !s.is_empty()) {
            subject.push('.');
            escape_into(segment, &mut subject);
        }
        subject
    }

    /// The subject filter matching the channels of a Bayeux pattern (`*` one segment, `**` any
    /// number of trailing segments).
    pub fn pattern_filter(&self, pattern: &str) -> String {
        let mut subject = format!("{}.ev", self.prefix);
        for segment in pattern.split('/').filter(|s| !s.is_empty()) {
            subject.push('.');
            match segment {
                "**" => subject.push('>'),
                "*" => subject.push('*'),
                literal => escape_into(literal, &mut subject),
            }
        }
        subject
    }

    /// The channel an event subject was published for; `None` for any other subject.
    pub fn channel_of(&self, subject: &str) -> Option<String> {
        let rest = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".ev.")?;
        let mut channel = String::with_capacity(rest.len() + 1);
        for token in rest.split('.') {
            channel.push('/');
            unescape_into(token, &mut channel)?;
        }
        Some(channel)
    }

    /// The subject a write of record `key` is published on.
    pub fn record_subject(&self, key: &[u8]) -> String {
        format!("{}.rec.k{}", self.prefix, hex(key))
    }

    /// The record key of a record subject; `None` for any other subject.
    pub fn record_key(&self, subject: &str) -> Option<Vec<u8>> {
        let hex = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".rec.k")?;
        if hex.len() % 2 != 0 {
            return None;
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

/// Bytes as lower-case hex: how keys made of arbitrary bytes (record keys, node ids, counter
/// and subscriber names, token hashes) become subject tokens and KV keys, which allow few
/// characters.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn escape_into(segment: &str, subject: &mut String) {
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            subject.push(char::from(byte));
        } else {
            let _ = write!(subject, "~{byte:02X}");
        }
    }
}

fn unescape_into(token: &str, channel: &mut String) -> Option<()> {
    let bytes = token.as_bytes();
    let mut raw = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'~' {
            let hex = token.get(i + 1..i + 3)?;
            raw.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            raw.push(bytes[i]);
            i += 1;
        }
    }
    channel.push_str(std::str::from_utf8(&raw).ok()?);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_through_subjects() {
        let names = Names::new("bayou").unwrap();
        for channel in [
            "/topic/Accounts",
            "/event/Low_Ink__e",
            "/data/ChangeEvents",
            "/chat/a.b c/é~x",
            "/u/notifications/ExampleUserChannel",
        ] {
            let subject = names.event_subject(channel);
            assert!(!subject.contains(' ') && subject.split('.').all(|t| !t.is_empty()));
            assert_eq!(names.channel_of(&subject).as_deref(), Some(channel));
        }
        assert_eq!(
            names.event_subject("/chat/a.b"),
            "bayou.ev.chat.a~2Eb",
            "a dot in a segment is not a subject separator"
        );
    }

    #[test]
    fn patterns_become_subject_wildcards() {
        let names = Names::new("org1").unwrap();
        assert_eq!(names.pattern_filter("/chat/*"), "org1.ev.chat.*");
        assert_eq!(names.pattern_filter("/event/**"), "org1.ev.event.>");
        assert_eq!(
            names.pattern_filter("/topic/T"),
            names.event_subject("/topic/T")
        );
    }

    #[test]
    fn record_keys_round_trip() {
        let names = Names::new("p").unwrap();
        for key in [&b""[..], b"sobject/Account/001", &[0, 255, 46]] {
            let subject = names.record_subject(key);
            assert_eq!(names.record_key(&subject).as_deref(), Some(key));
            assert_eq!(names.channel_of(&subject), None);
        }
    }

    #[test]
    fn prefixes_are_checked() {
        for bad in ["", "a.b", "a b", "x>", &"y".repeat(33)] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Names::new("team-a_1").unwrap().log_stream(), "team-a_1_log");
    }
}
