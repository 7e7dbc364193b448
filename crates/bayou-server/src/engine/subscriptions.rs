//! Who is subscribed to what: the index a published message is routed through.
//!
//! Subscriptions are kept in three maps — exact channels, `prefix/*` and `prefix/**` — keyed by
//! the prefix, so routing a channel costs one lookup for the channel, one for its parent's `*`
//! and one per ancestor for `**`, all with slices of the channel name: no allocation and no
//! scan of unrelated subscriptions. A session matched by several of its subscriptions gets the
//! message once, as in CometD and faye — except through *filtered* subscriptions
//! (`/topic/T?Field='x'`), which deliver their own copy under their own channel name.

use std::collections::HashMap;
use std::sync::Arc;

use bayou_protocol::ChannelName;

use super::replay::ReplayCursor;
use super::session::Session;
use crate::policy::DeliveryFilter;

/// One session's subscription to one pattern.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub session: Arc<Session>,
    /// Where this subscription stands in the log (live, or still replaying its backlog).
    pub cursor: Arc<ReplayCursor>,
    /// For a filtered subscription: what it lets through, re-encoded under its own channel.
    pub filter: Option<Arc<dyn DeliveryFilter>>,
}

/// The key of a subscriber in its pattern's map: the session, plus the filter text for a
/// filtered subscription (so one session can hold several filters on one topic).
fn subscriber_key(client_id: &str, filter: Option<&str>) -> String {
    match filter {
        Some(filter) => format!("{client_id}?{filter}"),
        None => client_id.to_owned(),
    }
}

type Subscribers = HashMap<String, Subscriber>;

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

    /// Adds (or replaces) `session`'s subscription to `pattern`. Returns `false` if it replaced
    /// one.
    pub fn subscribe(
        &mut self,
        pattern: &ChannelName,
        session: &Arc<Session>,
        cursor: Arc<ReplayCursor>,
        filter: Option<(&str, Arc<dyn DeliveryFilter>)>,
    ) -> bool {
        let (map, key) = self.map_for(pattern.as_str());
        let subscriber_key = subscriber_key(session.id(), filter.as_ref().map(|(text, _)| *text));
        let subscriber = Subscriber {
            session: Arc::clone(session),
            cursor,
            filter: filter.map(|(_, f)| f),
        };
        map.entry(key.to_owned())
            .or_default()
            .insert(subscriber_key, subscriber)
            .is_none()
    }

    /// Removes `client_id`'s subscription (with `filter`, if filtered) from `pattern`. Returns
    /// `false` if it was not there.
    pub fn unsubscribe(&mut self, pattern: &str, client_id: &str, filter: Option<&str>) -> bool {
        let (map, key) = self.map_for(pattern);
        let Some(subscribers) = map.get_mut(key) else {
            return false;
        };
        let removed = subscribers
            .remove(&subscriber_key(client_id, filter))
            .is_some();
        if subscribers.is_empty() {
            map.remove(key);
        }
        removed
    }

    /// Calls `deliver` once for every session with a subscription matching `channel` that
    /// accepts the event `replay_id` (a live subscription past its starting point). Returns how
    /// many sessions were called.
    pub fn for_each_subscriber(
        &self,
        channel: &str,
        replay_id: u64,
        mut deliver: impl FnMut(&Arc<Session>, Option<&Arc<dyn DeliveryFilter>>),
    ) -> usize {
        // The patterns that match, found lazily: the usual single match costs no allocation.
        let parent = channel.rfind('/').map(|slash| &channel[..slash]);
        let ancestors = std::iter::successors(parent, |p| p.rfind('/').map(|slash| &p[..slash]));
        let deep = ancestors.filter(|_| !self.deep.is_empty());
        let mut matching = self
            .exact
            .get(channel)
            .into_iter()
            .chain(parent.and_then(|p| self.one_level.get(p)))
            .chain(deep.filter_map(|prefix| self.deep.get(prefix)));
        let (first, second) = (matching.next(), matching.next());
        let (Some(first), Some(second)) = (first, second) else {
            // None, or exactly one pattern: no deduplication needed.
            let mut n = 0;
            for subscriber in first.into_iter().flat_map(|only| only.values()) {
                if subscriber.cursor.accepts(replay_id) {
                    deliver(&subscriber.session, subscriber.filter.as_ref());
                    n += 1;
                }
            }
            return n;
        };
        // A session matched through several of its (unfiltered) subscriptions gets the event
        // once: they share a key.
        let mut seen: HashMap<&str, &Subscriber> = HashMap::new();
        for subscribers in [first, second].into_iter().chain(matching) {
            for (key, subscriber) in subscribers.iter() {
                if subscriber.cursor.accepts(replay_id) {
                    seen.entry(key.as_str()).or_insert(subscriber);
                }
            }
        }
        seen.values()
            .for_each(|s| deliver(&s.session, s.filter.as_ref()));
        seen.len()
    }

    /// Every pattern with its number of subscriptions, sorted by pattern.
    pub fn subscription_counts(&self) -> Vec<(String, usize)> {
        let exact = self.exact.iter().map(|(k, s)| (k.clone(), s.len()));
        let one = self
            .one_level
            .iter()
            .map(|(k, s)| (format!("{k}/*"), s.len()));
        let deep = self.deep.iter().map(|(k, s)| (format!("{k}/**"), s.len()));
        let mut counts: Vec<(String, usize)> = exact.chain(one).chain(deep).collect();
        counts.sort();
        counts
    }

    /// The sessions with a subscription matching `channel`, live or still replaying, each once.
    pub fn sessions_matching(&self, channel: &str) -> Vec<Arc<Session>> {
        let parent = channel.rfind('/').map(|slash| &channel[..slash]);
        let ancestors = std::iter::successors(parent, |p| p.rfind('/').map(|slash| &p[..slash]));
        let mut seen: HashMap<&str, &Arc<Session>> = HashMap::new();
        for subscribers in self
            .exact
            .get(channel)
            .into_iter()
            .chain(parent.and_then(|p| self.one_level.get(p)))
            .chain(ancestors.filter_map(|prefix| self.deep.get(prefix)))
        {
            for subscriber in subscribers.values() {
                seen.entry(subscriber.session.id())
                    .or_insert(&subscriber.session);
            }
        }
        seen.into_values().cloned().collect()
    }

    /// Number of distinct patterns with at least one subscriber.
    #[cfg(test)]
    pub fn pattern_count(&self) -> usize {
        self.exact.len() + self.one_level.len() + self.deep.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Principal;

    fn session(id: &str) -> Arc<Session> {
        Arc::new(Session::new(
            id.to_owned(),
            Principal::default(),
            None,
            usize::MAX,
            bayou_protocol::api_version::ApiVersion::current(),
        ))
    }

    fn live() -> Arc<ReplayCursor> {
        Arc::new(ReplayCursor::live(0))
    }

    fn subscribers(index: &SubscriptionIndex, channel: &str) -> Vec<String> {
        let mut ids = Vec::new();
        index.for_each_subscriber(channel, 1, |s, _| ids.push(s.id().to_owned()));
        ids.sort();
        ids
    }

    #[test]
    fn routes_exact_and_wildcard_subscriptions_once_per_session() {
        let mut index = SubscriptionIndex::default();
        let (a, b, c) = (session("a"), session("b"), session("c"));
        let p = |s: &str| ChannelName::parse(s).unwrap();
        index.subscribe(&p("/chat/room"), &a, live(), None);
        index.subscribe(&p("/chat/*"), &a, live(), None);
        index.subscribe(&p("/chat/**"), &b, live(), None);
        index.subscribe(&p("/**"), &c, live(), None);
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
        assert!(index.subscribe(&pattern, &a, live(), None));
        assert!(!index.subscribe(&pattern, &a, live(), None));
        assert!(index.unsubscribe("/x/*", "a", None));
        assert!(!index.unsubscribe("/x/*", "a", None));
        assert_eq!(index.pattern_count(), 0);
        assert!(subscribers(&index, "/x/y").is_empty());
    }

    #[test]
    fn replaying_subscriptions_are_skipped_and_live_ones_start_after_their_position() {
        let mut index = SubscriptionIndex::default();
        let (a, b) = (session("a"), session("b"));
        let pattern = ChannelName::parse("/r").unwrap();
        index.subscribe(&pattern, &a, Arc::new(ReplayCursor::replaying(0)), None);
        index.subscribe(&pattern, &b, Arc::new(ReplayCursor::live(5)), None);
        let mut ids = Vec::new();
        index.for_each_subscriber("/r", 5, |s, _| ids.push(s.id().to_owned()));
        assert!(ids.is_empty());
        index.for_each_subscriber("/r", 6, |s, _| ids.push(s.id().to_owned()));
        assert_eq!(ids, vec!["b"]);
    }
}
