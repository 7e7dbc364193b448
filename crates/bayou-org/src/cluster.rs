//! What the org does differently as one node of a cluster (see `bayou-cluster`): its identity
//! (org id, users, connected apps) is shared by every node, and what it caches from its
//! records — PushTopics, platform event types, StreamingChannels, the CDC selection, field
//! types — is read again when another node writes them.
//!
//! One process is the only writer of an embedded store, so none of this runs there
//! ([`RecordStore::record_changes`] is `None`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use bayou_log::{RecordChanges, RecordStore, RecordWrite};
use tokio::sync::broadcast;

use crate::identity::{CredentialOverrides, Identity, NewCredentials};
use crate::{Org, OrgError};

/// Where the shared identity is kept (no `/`: not an sObject record).
pub(crate) const IDENTITY_KEY: &[u8] = b"org.identity";

/// The identity every node uses: the one already in the cluster, or this node's (made by
/// [`Identity::load_or_create`]) when it is the first. Credentials created here are returned
/// only when this node's identity became the cluster's.
pub(crate) async fn shared_identity(
    store: &dyn RecordStore,
    local: Identity,
    created: Option<NewCredentials>,
    overrides: &CredentialOverrides,
) -> Result<(Identity, Option<NewCredentials>), OrgError> {
    let encode = |identity: &Identity| {
        serde_json::to_vec(identity).map_err(|e| OrgError::Internal(e.to_string()))
    };
    let stored = store
        .insert_if_absent(IDENTITY_KEY, encode(&local)?)
        .await
        .map_err(|e| OrgError::Internal(format!("cannot share the org's identity: {e}")))?;
    let shared: Identity = serde_json::from_slice(&stored).map_err(|e| {
        OrgError::Internal(format!("the cluster's org identity is unreadable: {e}"))
    })?;
    if shared == local {
        return Ok((local, created));
    }
    // Another node made the org: use its identity, with this node's overrides (written back
    // when they change it, so every node agrees).
    let mut identity = shared.clone();
    identity.apply_overrides(overrides)?;
    if identity != shared {
        let write = RecordWrite {
            key: IDENTITY_KEY.to_vec(),
            value: Some(encode(&identity)?),
            expected_version: None,
        };
        store
            .append_with_records(Vec::new(), vec![write])
            .await
            .map_err(|e| OrgError::Internal(format!("cannot share the org's identity: {e}")))?;
    }
    tracing::info!(org_id = %identity.org_id, "joined the cluster's org");
    Ok((identity, None))
}

/// Follows other nodes' record writes for as long as the org lives.
pub(crate) fn follow_changes(org: &Arc<Org>) {
    let Some(changes) = org.store.record_changes() else {
        return;
    };
    // Listening starts now; what was announced before is read by one reload of everything.
    let announced = org.store.changes_announced_through();
    tokio::spawn(follow(Arc::downgrade(org), changes, announced));
}

async fn follow(org: Weak<Org>, mut changes: broadcast::Receiver<RecordChanges>, before: u64) {
    // What other nodes wrote between the org's first load and listening.
    let mut next = Some((before, None));
    loop {
        let (through, keys) = match next.take() {
            Some(first) => first,
            None => match changes.recv().await {
                Ok(changes) => (changes.through, Some(changes.keys)),
                // Changes were missed: read everything, which is at least as new as what was
                // announced by now (a node's copy of the records is updated before it
                // announces).
                Err(broadcast::error::RecvError::Lagged(_)) => match org.upgrade() {
                    Some(org) => (org.store.changes_announced_through(), None),
                    None => return,
                },
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let Some(org) = org.upgrade() else { return };
        if let Err(e) = org.reload(keys.as_deref()).await {
            tracing::warn!("cannot read another node's changes: {e}");
        }
        org.changes_read.send_if_modified(|read| {
            let moved = *read < through;
            *read = (*read).max(through);
            moved
        });
    }
}

/// How long a node waits to catch up with the rest of the cluster before refusing something
/// it does not know (see [`Org::settle_records`] and [`Org::settle_tokens`]).
pub(crate) const SETTLE_WITHIN: Duration = Duration::from_secs(2);

/// What this node is about to refuse as unknown — a PushTopic or StreamingChannel created, a
/// token issued through another node a moment ago, behind a load balancer — is looked up again
/// after one of these: each waits, at most [`SETTLE_WITHIN`], until this node knows what other
/// nodes of its cluster had written when called, and costs one NATS request when it is not
/// behind (one request shared by every caller waiting at the time). At once for an org of one
/// process.
impl Org {
    /// Other nodes' record writes, read into the org's caches (PushTopics, StreamingChannels…).
    pub async fn settle_records(&self) {
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        let Ok(announced) = self.store.sync(SETTLE_WITHIN).await else {
            return;
        };
        let mut read = self.changes_read.subscribe();
        let _ = tokio::time::timeout_at(deadline, read.wait_for(|r| *r >= announced)).await;
    }

    /// Other nodes' tokens, issued or revoked.
    pub async fn settle_tokens(&self) {
        if let Err(e) = self.tokens.sync(SETTLE_WITHIN).await {
            tracing::debug!("cannot catch up with the cluster's tokens: {e}");
        }
    }
}

/// What a set of changed keys makes stale.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Stale {
    pub identity: bool,
    pub topics: bool,
    pub event_types: bool,
    pub channels: bool,
    pub cdc: bool,
    /// Records of objects whose field types may be new.
    pub records: Vec<Vec<u8>>,
}

impl Stale {
    /// Everything (the list of changes was lost).
    pub fn all() -> Self {
        Self {
            identity: true,
            topics: true,
            event_types: true,
            channels: true,
            cdc: true,
            records: Vec::new(),
        }
    }

    pub fn of(keys: &[Vec<u8>]) -> Self {
        let mut stale = Self::default();
        for key in keys {
            if key.as_slice() == IDENTITY_KEY {
                stale.identity = true;
            } else if key.starts_with(b"PushTopic/") {
                stale.topics = true;
            } else if key.starts_with(crate::events::publish::STORE_PREFIX.as_bytes()) {
                stale.event_types = true;
            } else if key.starts_with(crate::events::avro::STORE_PREFIX.as_bytes())
                || key.starts_with(crate::managed::STORE_PREFIX.as_bytes())
            {
                // Schemas never change once stored, and managed subscriptions are read from the
                // store each time: no copy to refresh.
            } else if key.starts_with(crate::cdc::STORE_PREFIX.as_bytes()) {
                stale.cdc = true;
            } else {
                if key.starts_with(b"StreamingChannel/") {
                    stale.channels = true;
                }
                if key.contains(&b'/') {
                    stale.records.push(key.clone());
                }
            }
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_name_what_to_read_again() {
        let keys = [
            b"PushTopic/0IF1".to_vec(),
            b"Account/001".to_vec(),
            b"StreamingChannel/0M6".to_vec(),
            IDENTITY_KEY.to_vec(),
        ];
        let stale = Stale::of(&keys);
        assert!(stale.topics && stale.channels && stale.identity);
        assert!(!stale.event_types && !stale.cdc);
        assert_eq!(
            stale.records,
            [b"Account/001".to_vec(), b"StreamingChannel/0M6".to_vec()]
        );
        assert_eq!(
            Stale::of(&[b"bayou-cluster.expired-through".to_vec()]),
            Stale::default()
        );
    }
}
