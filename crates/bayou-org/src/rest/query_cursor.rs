//! Query cursors: the rest of a query's results, returned a batch at a time through
//! `nextRecordsUrl` (`/services/data/vXX.X/query/<cursor>-<returned so far>`), as Salesforce
//! pages any result larger than the batch size (2,000 records, or the `batchSize` of
//! `Sforce-Query-Options`, 200 to 2,000).
//!
//! A cursor keeps only the matching record ids, in result order, and what to show of each;
//! records are read when their batch is asked for. Cursors belong to the user who ran the
//! query, expire 15 minutes after their last use, and there are at most [`MAX_CURSORS`]
//! (the oldest goes first).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Cursors kept at most.
pub const MAX_CURSORS: usize = 1_000;
/// How long an unused cursor lives.
const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What is left of one query.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub user_id: String,
    pub object: String,
    /// Every matching record id, in result order.
    pub ids: Vec<String>,
    /// The SELECT list, and whether it names `Id`.
    pub fields: Vec<String>,
    pub selects_id: bool,
    pub batch: usize,
    last_used: Instant,
}

impl Cursor {
    pub fn new(
        user_id: String,
        object: String,
        ids: Vec<String>,
        fields: Vec<String>,
        selects_id: bool,
        batch: usize,
    ) -> Self {
        Self {
            user_id,
            object,
            ids,
            fields,
            selects_id,
            batch,
            last_used: Instant::now(),
        }
    }
}

/// One batch of a cursor, and what to show of its records.
#[derive(Debug, Clone)]
pub struct Page {
    pub ids: Vec<String>,
    pub total: usize,
    pub object: String,
    pub fields: Vec<String>,
    pub selects_id: bool,
}

/// The open cursors.
#[derive(Debug, Default)]
pub struct QueryCursors {
    by_id: HashMap<String, Cursor>,
    created: VecDeque<String>,
}

impl QueryCursors {
    /// Keeps `cursor`; returns its id (Salesforce's shape: `01g` and 15 characters).
    pub fn open(&mut self, cursor: Cursor) -> String {
        let now = Instant::now();
        self.by_id
            .retain(|_, c| now.duration_since(c.last_used) < LIFETIME);
        self.created.retain(|id| self.by_id.contains_key(id));
        while self.by_id.len() >= MAX_CURSORS {
            match self.created.pop_front() {
                Some(oldest) => {
                    self.by_id.remove(&oldest);
                }
                None => break,
            }
        }
        let id = crate::ids::new_id("01g");
        self.created.push_back(id.clone());
        self.by_id.insert(id.clone(), cursor);
        id
    }

    /// The batch of cursor `id` (of `user_id`) starting at result `from`, if the cursor is open.
    pub fn page(&mut self, id: &str, user_id: &str, from: usize) -> Option<Page> {
        let cursor = self.by_id.get_mut(id)?;
        if cursor.user_id != user_id || cursor.last_used.elapsed() >= LIFETIME {
            return None;
        }
        cursor.last_used = Instant::now();
        let ids = cursor
            .ids
            .get(from..)?
            .iter()
            .take(cursor.batch)
            .cloned()
            .collect();
        Some(Page {
            ids,
            total: cursor.ids.len(),
            object: cursor.object.clone(),
            fields: cursor.fields.clone(),
            selects_id: cursor.selects_id,
        })
    }

    /// Forgets a cursor whose last batch was returned.
    pub fn close(&mut self, id: &str) {
        self.by_id.remove(id);
    }
}
