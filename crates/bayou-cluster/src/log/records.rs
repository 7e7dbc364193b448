//! This node's copy of the org's records, kept from the log stream: every record write is a
//! message of the stream, and the newest message of a key (by sequence) is the record. A write
//! this node makes is applied when JetStream acknowledges it (so the writer reads its own
//! writes at once); the same message arriving later from the tail changes nothing. Writes from
//! other nodes arrive through the tail and are announced on [`Records::changes`] so the org can
//! refresh what it caches.

use std::collections::BTreeMap;
use std::ops::Bound;

use bayou_log::StoredRecord;

#[derive(Default)]
pub(crate) struct Records {
    /// Key → (sequence of the newest write, value). A removal keeps its sequence with no value
    /// so that an older write arriving late cannot bring the record back.
    by_key: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)>,
}

impl Records {
    /// Applies a write at `sequence`; returns the sequence it superseded (`Some(0)` when the key
    /// was new), or `None` when a newer write was already applied.
    pub fn apply(&mut self, key: &[u8], sequence: u64, value: Option<Vec<u8>>) -> Option<u64> {
        match self.by_key.get_mut(key) {
            Some((current, _)) if *current >= sequence => None,
            Some(entry) => {
                let previous = entry.0;
                *entry = (sequence, value);
                Some(previous)
            }
            None => {
                self.by_key.insert(key.to_vec(), (sequence, value));
                Some(0)
            }
        }
    }

    /// The record and its version: the sequence of its key's newest write (0: never written).
    pub fn versioned(&self, key: &[u8]) -> bayou_log::Versioned {
        let (version, value) = self.by_key.get(key).cloned().unwrap_or_default();
        bayou_log::Versioned {
            value,
            version: Some(version),
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.by_key.get(key).and_then(|(_, value)| value.clone())
    }

    /// At most `max` records under `prefix`, after `after`, in key order.
    pub fn page(&self, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Vec<StoredRecord> {
        let start = match after {
            Some(after) => Bound::Excluded(after.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        self.by_key
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, (_, value))| Some((key.clone(), value.clone()?)))
            .take(max)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_write_wins_whatever_the_order_of_arrival() {
        let mut records = Records::default();
        assert_eq!(records.apply(b"a/1", 5, Some(b"five".to_vec())), Some(0));
        assert_eq!(records.apply(b"a/1", 3, Some(b"three".to_vec())), None);
        assert_eq!(records.get(b"a/1").as_deref(), Some(&b"five"[..]));
        assert_eq!(records.apply(b"a/1", 8, None), Some(5));
        assert_eq!(records.get(b"a/1"), None);
        assert_eq!(
            records.apply(b"a/1", 6, Some(b"late".to_vec())),
            None,
            "stays removed"
        );
    }

    #[test]
    fn pages_stay_under_the_prefix() {
        let mut records = Records::default();
        for (i, key) in ["a/1", "a/2", "a/3", "b/1"].iter().enumerate() {
            records.apply(key.as_bytes(), i as u64 + 1, Some(vec![1]));
        }
        records.apply(b"a/2", 9, None);
        let keys = |page: Vec<StoredRecord>| -> Vec<Vec<u8>> {
            page.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(
            keys(records.page(b"a/", None, 10)),
            [b"a/1".to_vec(), b"a/3".to_vec()]
        );
        assert_eq!(
            keys(records.page(b"a/", Some(b"a/1"), 10)),
            [b"a/3".to_vec()]
        );
        assert_eq!(keys(records.page(b"a/", None, 1)), [b"a/1".to_vec()]);
    }
}
