//! The org's records: written with their events, read back, paged, removed, created once.

use bayou_log::RecordWrite;

use crate::backend::{event, Backend};
use crate::conformance;
use crate::log::until_head;

conformance!(
    records_are_written_with_their_events,
    insert_if_absent_keeps_the_first_record,
    records_survive_a_restart,
);

fn put(key: &str, value: &str) -> RecordWrite {
    RecordWrite {
        key: key.as_bytes().to_vec(),
        value: Some(value.as_bytes().to_vec()),
        expected_version: None,
    }
}

async fn records_are_written_with_their_events(backend: Backend) {
    let node = backend.node().await;
    let store = &node.storage.log;
    let ids = store
        .append_with_records(
            vec![event("/topic/a", "created")],
            vec![
                put("acct/1", "one"),
                put("acct/2", "two"),
                put("other/1", "x"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "ids of the events only");
    // Read at once by the node that wrote them.
    assert_eq!(
        store.record(b"acct/1").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    let acct = store.records(b"acct/").await.unwrap();
    assert_eq!(acct.len(), 2);
    let first = store.records_page(b"acct/", None, 1).await.unwrap();
    assert_eq!(first, [(b"acct/1".to_vec(), b"one".to_vec())]);
    let next = store
        .records_page(b"acct/", Some(b"acct/1"), 5)
        .await
        .unwrap();
    assert_eq!(next, [(b"acct/2".to_vec(), b"two".to_vec())]);

    store
        .append_with_records(
            Vec::new(),
            vec![
                put("acct/1", "changed"),
                RecordWrite {
                    key: b"acct/2".to_vec(),
                    value: None,
                    expected_version: None,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.record(b"acct/1").await.unwrap().as_deref(),
        Some(&b"changed"[..])
    );
    assert_eq!(store.record(b"acct/2").await.unwrap(), None);
    assert_eq!(store.records(b"acct/").await.unwrap().len(), 1);
    until_head(&node, ids[0]).await;
}

async fn insert_if_absent_keeps_the_first_record(backend: Backend) {
    let node = backend.node().await;
    let store = &node.storage.log;
    let first = store
        .insert_if_absent(b"org/identity", b"A".to_vec())
        .await
        .unwrap();
    let second = store
        .insert_if_absent(b"org/identity", b"B".to_vec())
        .await
        .unwrap();
    assert_eq!(
        (first.as_slice(), second.as_slice()),
        (&b"A"[..], &b"A"[..])
    );
    assert_eq!(
        store.record(b"org/identity").await.unwrap().as_deref(),
        Some(&b"A"[..])
    );
}

async fn records_survive_a_restart(backend: Backend) {
    {
        let node = backend.node().await;
        let store = &node.storage.log;
        store
            .append_with_records(Vec::new(), vec![put("k/1", "v1"), put("k/2", "v2")])
            .await
            .unwrap();
        store
            .append_with_records(
                Vec::new(),
                vec![
                    put("k/1", "v1b"),
                    RecordWrite {
                        key: b"k/2".to_vec(),
                        value: None,
                        expected_version: None,
                    },
                ],
            )
            .await
            .unwrap();
    }
    let node = backend.node().await;
    let records = node.storage.log.records(b"k/").await.unwrap();
    assert_eq!(records, [(b"k/1".to_vec(), b"v1b".to_vec())]);
}
