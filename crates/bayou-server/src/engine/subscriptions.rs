//! Who is subscribed to what: the index a published message is routed through.
//!
//! Subscriptions are kept in three maps — exact channels, `prefix/*` and `prefix/**` — keyed by
//! the prefix, so routing a channel costs one lookup for the channel, one for its parent's `*`
//! and one per ancestor for `**`, all with slices of the channel name: no allocation and no
//! scan of unrelated subscriptions. A session matched by several of its subscriptions gets the
//! message once, as in CometD and faye.

use std::collections::HashMap;
use std::sync::Arc;

use bayou_protocol::ChannelName;

use super::session::Session;

type Subscribers = HashMap<String, Arc<Session>>;

/// The subscription index.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    exact: HashMap<String, Subscribers>,
    one_level: HashMap<String, Subscribers>,
    deep: HashMap<String, Subscribers>,
}

impl SubscriptionIndex {
    fn map_for<'a>(
        &'a mut self,
        pattern: &'a str,
    ) -> (&'a mut HashMap<String, Subscribers>, &'a str) {
        if let Some(prefix) = pattern.strip_suffix("/**") {
            (&mut self.deep, prefix)
        } else if let Some(prefix) = pattern.strip_suffix("/*") {
            (&mut self.one_level, prefix)
        } else {
            (&mut self.exact, pattern)
        }
    }

    /// Adds `session` under `pattern`. Returns `false` if it was already there.
    pub fn subscribe(&mut self, pattern: &ChannelName, session: &Arc<Session>) -> bool {
        let (map, key) = self.map_for(pattern.as_str());
        map.entry(key.to_owned())
            .or_default()
            .insert(session.id().to_owned(), Arc::clone(session))
            .is_none()
    }

    /// Removes `client_id` from `pattern`. Returns `false` if it was not there.
    pub fn unsubscribe(&mut self, pattern: &str, client_id: &str) -> bool {
        let (map, key) = self.map_for(pattern);
        let Some(subscribers) = map.get_mut(key) else {
            return false;
        };
        let removed = subscribers.remove(client_id).is_some();
        if subscribers.is_empty() {
            map.remove(key);
        }
        removed
    }

    /// Calls `deliver` once for every session subscribed to a pattern matching `channel`.
    /// Returns how many sessions were called.
    pub fn for_each_subscriber(
        &self,
        channel: &str,
        mut deliver: impl FnMut(&Arc<Session>),
    ) -> usize {
        let mut matched: Vec<&Subscribers> = Vec::new();
        if let Some(s) = self.exact.get(channel) {
            matched.push(s);
        }
        if let Some(slash) = channel.rfind('/') {
            if let Some(s) = self.one_level.get(&channel[..slash]) {
                matched.push(s);
            }
        }
        if !self.deep.is_empty() {
            let mut end = channel.len();
            while let Some(slash) = channel[..end].rfind('/') {
                if let Some(s) = self.deep.get(&channel[..slash]) {
                    matched.push(s);
                }
                end = slash;
            }
        }
        match matched.as_slice() {
            [] => 0,
            [only] => {
                only.values().for_each(&mut deliver);
                only.len()
            }
            several => {
                let mut seen: HashMap<&str, &Arc<Session>> = HashMap::new();
                for subscribers in several {
                    for (id, session) in subscribers.iter() {
                        seen.entry(id.as_str()).or_insert(session);
                    }
                }
                seen.values().for_each(|s| deliver(s));
                seen.len()
            }
        }
    }

    /// Number of distinct patterns with at least one subscriber.
    pub fn pattern_count(&self) -> usize {
        self.exact.len() + self.one_level.len() + self.deep.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;

    fn session(id: &str) -> Arc<Session> {
        Arc::new(Session::new(id.to_owned(), Principal::default()))
    }

    fn subscribers(index: &SubscriptionIndex, channel: &str) -> Vec<String> {
        let mut ids = Vec::new();
        index.for_each_subscriber(channel, |s| ids.push(s.id().to_owned()));
        ids.sort();
        ids
    }

    #[test]
    fn routes_exact_and_wildcard_subscriptions_once_per_session() {
        let mut index = SubscriptionIndex::default();
        let (a, b, c) = (session("a"), session("b"), session("c"));
        let p = |s: &str| ChannelName::parse(s).unwrap();
        index.subscribe(&p("/chat/room"), &a);
        index.subscribe(&p("/chat/*"), &a);
        index.subscribe(&p("/chat/**"), &b);
        index.subscribe(&p("/**"), &c);
        assert_eq!(subscribers(&index, "/chat/room"), vec!["a", "b", "c"]);
        assert_eq!(subscribers(&index, "/chat/room/x"), vec!["b", "c"]);
        assert_eq!(subscribers(&index, "/chat"), vec!["c"]);
        assert_eq!(subscribers(&index, "/other/x"), vec!["c"]);
    }

    #[test]
    fn unsubscribe_removes_empty_entries() {
        let mut index = SubscriptionIndex::default();
        let a = session("a");
        let pattern = ChannelName::parse("/x/*").unwrap();
        assert!(index.subscribe(&pattern, &a));
        assert!(!index.subscribe(&pattern, &a));
        assert!(index.unsubscribe("/x/*", "a"));
        assert!(!index.unsubscribe("/x/*", "a"));
        assert_eq!(index.pattern_count(), 0);
        assert!(subscribers(&index, "/x/y").is_empty());
    }
}
