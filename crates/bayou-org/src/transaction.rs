//! A REST request's transaction: who made the changes, and the identity Change Data Capture
//! gives them. Every record change of one request (one sObject call, or every sub-request of a
//! composite call) shares a `transactionKey`, and each change in it takes the next
//! `sequenceNumber`, as Salesforce numbers the changes of one transaction.

use std::sync::atomic::{AtomicU32, Ordering};

/// The changes of one REST request.
#[derive(Debug)]
pub struct Transaction {
    /// The user making the changes (`CreatedById`, `LastModifiedById`, `commitUser`).
    pub user_id: String,
    /// `ChangeEventHeader.transactionKey`.
    pub key: String,
    /// `ChangeEventHeader.changeOrigin`: the API and version the request came through.
    pub origin: String,
    sequence: AtomicU32,
}

impl Transaction {
    /// A transaction for a request of `user_id` on REST API `version` (`v66.0` or `66.0`).
    pub fn new(user_id: &str, version: &str) -> Self {
        let version = version.trim_start_matches(['v', 'V']);
        Self {
            user_id: user_id.to_owned(),
            key: crate::events::new_uuid(),
            origin: format!("com/salesforce/api/rest/{version};client=bayou"),
            sequence: AtomicU32::new(0),
        }
    }

    /// The next change's sequence number, from 1.
    pub fn next_sequence(&self) -> u32 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_numbered_from_one_and_the_origin_names_the_api() {
        let txn = Transaction::new("005xx", "v66.0");
        assert_eq!(txn.next_sequence(), 1);
        assert_eq!(txn.next_sequence(), 2);
        assert_eq!(txn.origin, "com/salesforce/api/rest/66.0;client=bayou");
        assert_eq!(txn.key.len(), 36);
        assert_ne!(txn.key, Transaction::new("005xx", "66.0").key);
    }
}
