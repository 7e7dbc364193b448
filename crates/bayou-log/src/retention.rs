//! How long events are kept, by channel pattern.
//!
//! Salesforce keeps PushTopic and generic events 24 hours and platform events and change events
//! 72 hours; those are the defaults. Rules are tried in order and the first whose pattern matches
//! a channel governs it; a rule may also cap the bytes its channels keep.

use std::time::Duration;

use bayou_protocol::channel::pattern_matches;
use bayou_protocol::ChannelName;

/// One retention rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// Channels this rule governs (`/topic/**`, `/chat/*`, `/exact`).
    pub pattern: ChannelName,
    /// Events older than this are removed.
    pub max_age: Duration,
    /// When set, the oldest events of these channels are removed once they take more bytes.
    pub max_bytes: Option<u64>,
}

impl RetentionRule {
    /// A rule keeping events of `pattern` for `max_age`.
    pub fn new(pattern: &str, max_age: Duration) -> Result<Self, bayou_protocol::ChannelError> {
        Ok(Self {
            pattern: ChannelName::parse(pattern)?,
            max_age,
            max_bytes: None,
        })
    }
}

/// The ordered rules, with a catch-all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    rules: Vec<RetentionRule>,
}

const HOUR: Duration = Duration::from_secs(3_600);

impl Default for RetentionPolicy {
    /// 24 h for `/topic/**` and `/u/**`, 72 h for `/event/**` and `/data/**`, 24 h otherwise.
    fn default() -> Self {
        let rule = |p: &str, hours: u32| RetentionRule {
            pattern: ChannelName::parse(p).unwrap_or_else(|_| unreachable!("valid literal")),
            max_age: HOUR * hours,
            max_bytes: None,
        };
        Self {
            rules: vec![
                rule("/topic/**", 24),
                rule("/u/**", 24),
                rule("/event/**", 72),
                rule("/data/**", 72),
                rule("/**", 24),
            ],
        }
    }
}

impl RetentionPolicy {
    /// A policy from rules tried in order; a `/**` rule keeping events 24 h is appended if no
    /// rule matches everything.
    pub fn new(mut rules: Vec<RetentionRule>) -> Self {
        if !rules.iter().any(|r| r.pattern.as_str() == "/**") {
            rules.push(RetentionRule {
                pattern: ChannelName::parse("/**")
                    .unwrap_or_else(|_| unreachable!("valid literal")),
                max_age: HOUR * 24,
                max_bytes: None,
            });
        }
        Self { rules }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[RetentionRule] {
        &self.rules
    }

    /// The index of the rule governing `channel`.
    pub fn rule_index(&self, channel: &str) -> usize {
        self.rules
            .iter()
            .position(|r| pattern_matches(r.pattern.as_str(), channel))
            .unwrap_or(self.rules.len() - 1)
    }

    /// The rule governing `channel`.
    pub fn rule_for(&self, channel: &str) -> &RetentionRule {
        &self.rules[self.rule_index(channel)]
    }

    /// The shortest age any rule keeps events.
    pub fn shortest_age(&self) -> Duration {
        self.rules
            .iter()
            .map(|r| r.max_age)
            .min()
            .unwrap_or(HOUR * 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_defaults() {
        let policy = RetentionPolicy::default();
        assert_eq!(policy.rule_for("/topic/Accounts").max_age, HOUR * 24);
        assert_eq!(policy.rule_for("/u/notifications").max_age, HOUR * 24);
        assert_eq!(policy.rule_for("/event/Low_Ink__e").max_age, HOUR * 72);
        assert_eq!(policy.rule_for("/data/ChangeEvents").max_age, HOUR * 72);
        assert_eq!(policy.rule_for("/chat/room").max_age, HOUR * 24);
    }

    #[test]
    fn first_matching_rule_wins_and_a_catch_all_is_added() {
        let policy = RetentionPolicy::new(vec![
            RetentionRule::new("/chat/vip", HOUR).unwrap(),
            RetentionRule::new("/chat/*", HOUR * 2).unwrap(),
        ]);
        assert_eq!(policy.rule_for("/chat/vip").max_age, HOUR);
        assert_eq!(policy.rule_for("/chat/x").max_age, HOUR * 2);
        assert_eq!(policy.rule_for("/other").max_age, HOUR * 24);
        assert_eq!(policy.shortest_age(), HOUR);
    }
}
