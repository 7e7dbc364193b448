//! Record writes beside another node's, without a cluster: the org runs over a store that
//! behaves as one node's copy of a shared one. It checks record versions as JetStream does
//! (`Nats-Expected-Last-Subject-Sequence`), lets a test make "another node's" change land
//! between the org's read and its write, and holds back other nodes' writes until the org
//! syncs. So the retry and its limit, and the catch-up before each write, are tested
//! deterministically; `crates/bayou/tests/process/cluster/sharing.rs` shows the same on real
//! nodes, where timing decides what a test meets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bayou_log::{
    AppendFuture, ChannelFilter, EmbeddedOptions, EventLog, LogError, NewEvent, QueuedAppend,
    RecordChanges, RecordStore, RecordWrite, Storage, StoreFuture, StoredRecord, Versioned,
};
use bayou_org::identity::CredentialOverrides;
use bayou_org::records::Fields;
use bayou_org::transaction::Transaction;
use bayou_org::{Org, OrgConfig};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// An embedded log whose records have versions, and where another writer can be made to
/// change a record just before the org's next write.
struct Contended {
    inner: Arc<dyn RecordStore>,
    /// Shared with the write futures, which outlive a borrow of the store.
    state: Arc<Mutex<State>>,
    /// Announces other nodes' writes once synced (see `RecordStore::record_changes`).
    changes: broadcast::Sender<RecordChanges>,
}

#[derive(Default)]
struct State {
    versions: HashMap<Vec<u8>, u64>,
    next_version: u64,
    /// Field changes "another node" makes to records just before the org's next writes, one
    /// per write.
    interference: Vec<(Vec<u8>, String, Value)>,
    /// Every checked write conflicts (another node that never stops changing the record).
    always_changed: bool,
    refused: usize,
    /// Other nodes' writes this node's copy does not have until it syncs.
    behind: Vec<RecordWrite>,
    /// The `through` of the last announcement.
    announced: u64,
}

impl State {
    fn bump(&mut self, key: &[u8]) {
        self.next_version += 1;
        self.versions.insert(key.to_vec(), self.next_version);
    }
}

impl Contended {
    fn over(inner: Arc<dyn RecordStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            state: Arc::new(Mutex::new(State::default())),
            changes: broadcast::channel(16).0,
        })
    }

    /// Another node stored `fields` at `key`; this node's copy has it once it syncs.
    fn written_elsewhere(&self, key: Vec<u8>, fields: Value) {
        self.state.lock().behind.push(RecordWrite {
            key,
            value: Some(serde_json::to_vec(&fields).unwrap()),
            expected_version: None,
        });
    }

    /// Before the org's next write, another node sets `field` of the record at `key`.
    fn interfere(&self, key: &[u8], field: &str, value: Value) {
        self.state
            .lock()
            .interference
            .push((key.to_vec(), field.to_owned(), value));
    }
}

impl EventLog for Contended {
    fn queue_append(&self, events: Vec<NewEvent>) -> QueuedAppend {
        self.inner.queue_append(events)
    }
    bayou_testkit::forward_event_log!();
}

impl RecordStore for Contended {
    fn append_with_records(&self, events: Vec<NewEvent>, writes: Vec<RecordWrite>) -> AppendFuture {
        let inner = Arc::clone(&self.inner);
        let interference = {
            let mut state = self.state.lock();
            (!state.interference.is_empty()).then(|| state.interference.remove(0))
        };
        let checked: Vec<_> = writes
            .iter()
            .filter_map(|w| Some((w.key.clone(), w.expected_version?)))
            .collect();
        let keys: Vec<_> = writes.iter().map(|w| w.key.clone()).collect();
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            if let Some((key, field, value)) = interference {
                let stored = inner.record(&key).await?.expect("the record exists");
                let mut fields: Fields = serde_json::from_slice(&stored).unwrap();
                fields.insert(field, value);
                let write = RecordWrite {
                    key: key.clone(),
                    value: Some(serde_json::to_vec(&fields).unwrap()),
                    expected_version: None,
                };
                inner.append_with_records(Vec::new(), vec![write]).await?;
                state.lock().bump(&key);
            }
            {
                let mut state = state.lock();
                let stale = checked.iter().any(|(key, expected)| {
                    state.always_changed
                        || state.versions.get(key).copied().unwrap_or(0) != *expected
                });
                if stale {
                    state.refused += 1;
                    return Err(LogError::Conflict("the record changed meanwhile".into()));
                }
            }
            let ids = inner.append_with_records(events, writes).await?;
            let mut state = state.lock();
            for key in &keys {
                state.bump(key);
            }
            Ok(ids)
        })
    }
    fn record(&self, key: &[u8]) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.inner.record(key)
    }
    fn versioned_record(&self, key: &[u8]) -> StoreFuture<'_, Versioned> {
        let key = key.to_vec();
        Box::pin(async move {
            let value = self.inner.record(&key).await?;
            let version = self.state.lock().versions.get(&key).copied().unwrap_or(0);
            Ok(Versioned {
                value,
                version: Some(version),
            })
        })
    }
    fn records(&self, prefix: &[u8]) -> StoreFuture<'_, Vec<StoredRecord>> {
        self.inner.records(prefix)
    }
    fn record_changes(&self) -> Option<broadcast::Receiver<RecordChanges>> {
        Some(self.changes.subscribe())
    }
    fn changes_announced_through(&self) -> u64 {
        self.state.lock().announced
    }
    /// Takes in the other nodes' writes held back, and announces them.
    fn sync(&self, _within: Duration) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let behind = std::mem::take(&mut self.state.lock().behind);
            if behind.is_empty() {
                return Ok(self.state.lock().announced);
            }
            let keys: Vec<_> = behind.iter().map(|w| w.key.clone()).collect();
            self.inner.append_with_records(Vec::new(), behind).await?;
            let through = {
                let mut state = self.state.lock();
                for key in &keys {
                    state.bump(key);
                }
                state.announced += 1;
                state.announced
            };
            let _ = self.changes.send(RecordChanges {
                through,
                keys: keys.into(),
            });
            Ok(through)
        })
    }
    fn records_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        max: usize,
    ) -> StoreFuture<'_, Vec<StoredRecord>> {
        self.inner.records_page(prefix, after, max)
    }
}

/// An org over a [`Contended`] embedded store in a new directory.
async fn contended_org() -> (Arc<Org>, Arc<Contended>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::embedded(
        &dir.path().join("log"),
        EmbeddedOptions::default(),
        Duration::from_secs(3_600),
    )
    .unwrap();
    let contended = Contended::over(Arc::clone(&storage.log));
    let storage = Storage {
        log: contended.clone(),
        ..storage
    };
    let (org, _) = Org::open(
        dir.path(),
        &CredentialOverrides::default(),
        OrgConfig::default(),
        &storage,
    )
    .await
    .unwrap();
    (org, contended, dir)
}

fn fields(value: Value) -> Fields {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn an_update_that_lost_a_race_is_made_again_from_the_newer_record() {
    let (org, store, _dir) = contended_org().await;
    let txn = Transaction::new("005000000000001AAA", "66.0");
    org.create_record(
        "PushTopic",
        fields(json!({"Name": "Accts", "Query": "SELECT Id, Phone, Website FROM Account", "ApiVersion": 66.0})),
        &txn,
    )
    .await
    .unwrap();
    let id = org
        .create_record("Account", fields(json!({"Name": "Acme"})), &txn)
        .await
        .unwrap();
    let key = bayou_org::records::key("Account", &id);

    // Another node sets the phone after this one read the record for its update.
    store.interfere(&key, "Phone", json!("from another node"));
    org.update_record("Account", &id, fields(json!({"Website": "mine"})), &txn)
        .await
        .unwrap();

    assert_eq!(
        store.state.lock().refused,
        1,
        "the first attempt was refused"
    );
    let record = org.live_record("Account", &id).await.unwrap();
    assert_eq!(record["Phone"], "from another node", "{record:?}");
    assert_eq!(record["Website"], "mine", "{record:?}");
    // The refused attempt stored none of its events: one notification for the create, one
    // for the update, which carries both changes.
    let batch = store
        .read(
            0,
            ChannelFilter::Pattern("/topic/Accts".into()),
            100,
            10_000,
        )
        .await
        .unwrap();
    let sobjects: Vec<Value> = batch
        .events
        .iter()
        .map(|e| serde_json::from_slice::<Value>(&e.bytes).unwrap()["data"]["sobject"].clone())
        .collect();
    assert_eq!(sobjects.len(), 2, "{sobjects:?}");
    assert_eq!(sobjects[1]["Phone"], "from another node", "{sobjects:?}");
    assert_eq!(sobjects[1]["Website"], "mine", "{sobjects:?}");
}

#[tokio::test(start_paused = true)]
async fn a_record_other_nodes_keep_changing_gets_unable_to_lock_row() {
    let (org, store, _dir) = contended_org().await;
    let txn = Transaction::new("005000000000001AAA", "66.0");
    let id = org
        .create_record("Account", fields(json!({"Name": "Acme"})), &txn)
        .await
        .unwrap();
    store.state.lock().always_changed = true;
    let started = tokio::time::Instant::now();
    let refused = org
        .delete_record("Account", &id, &txn)
        .await
        .expect_err("never gets its turn");
    assert_eq!(refused.code, "UNABLE_TO_LOCK_ROW");
    assert_eq!(
        refused.message,
        format!("unable to obtain exclusive access to this record or 1 records: {id}")
    );
    // Salesforce's wait for a row lock, in retries.
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert!(
        store.state.lock().refused > 10,
        "{}",
        store.state.lock().refused
    );
    store.state.lock().always_changed = false;
    let record = org.live_record("Account", &id).await.unwrap();
    assert_eq!(
        record["IsDeleted"], false,
        "nothing of the refused delete stored"
    );
}

/// Events stored on `channel`, their data.
async fn data_on(store: &Contended, channel: &str) -> Vec<Value> {
    let batch = store
        .read(0, ChannelFilter::Pattern(channel.into()), 100, 10_000)
        .await
        .unwrap();
    batch
        .events
        .iter()
        .map(|e| serde_json::from_slice::<Value>(&e.bytes).unwrap()["data"].clone())
        .collect()
}

#[tokio::test]
async fn a_write_first_takes_in_what_other_nodes_wrote() {
    let (org, store, _dir) = contended_org().await;
    let txn = Transaction::new("005000000000001AAA", "66.0");
    // Another node made a PushTopic on accounts; this node does not have it yet.
    let topic_id = bayou_org::ids::new_id("0IF");
    store.written_elsewhere(
        bayou_org::records::key("PushTopic", &topic_id),
        json!({
            "Id": topic_id, "Name": "Accts", "Query": "SELECT Id, Name FROM Account",
            "ApiVersion": 66.0, "IsActive": true, "IsDeleted": false,
            "NotifyForFields": "Referenced", "NotifyForOperationCreate": true,
            "NotifyForOperationUpdate": true, "NotifyForOperationDelete": true,
            "NotifyForOperationUndelete": true,
        }),
    );
    // An account created here fires the other node's PushTopic…
    org.create_record("Account", fields(json!({"Name": "Acme"})), &txn)
        .await
        .unwrap();
    let notifications = data_on(&store, "/topic/Accts").await;
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    assert_eq!(notifications[0]["sobject"]["Name"], "Acme");
    // Another node made an account: changed here at once.
    let elsewhere = bayou_org::ids::new_id("001");
    store.written_elsewhere(
        bayou_org::records::key("Account", &elsewhere),
        json!({"Id": elsewhere, "Name": "Made elsewhere", "IsDeleted": false}),
    );
    assert!(
        org.live_record("Account", &elsewhere).await.is_err(),
        "not here yet"
    );

    org.update_record(
        "Account",
        &elsewhere,
        fields(json!({"Name": "Changed here"})),
        &txn,
    )
    .await
    .unwrap();
    let notifications = data_on(&store, "/topic/Accts").await;
    assert_eq!(notifications.len(), 2, "{notifications:?}");
    assert_eq!(notifications[1]["sobject"]["Name"], "Changed here");
}
