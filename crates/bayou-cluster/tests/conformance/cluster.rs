//! What only a cluster has: several nodes on one NATS, racing for sequence numbers, sharing
//! tokens, records, counters and floors, and JetStream's atomic batches under Bayou's writes.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::HeaderMap;
use bayou_log::{ChannelFilter, RecordWrite, TokenGrant, TokenKind};
use bayou_testkit::eventually;

use crate::backend::{event, id_in, Backend};
use crate::log::{read_all, until_head};

const WITHIN: Duration = Duration::from_secs(10);

fn jetstream(test: &str) -> Option<Backend> {
    Backend::jetstream(test)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_appended_on_one_node_reaches_the_others_with_its_id() {
    let Some(backend) = jetstream("cluster events") else {
        return;
    };
    let (a, b, c) = (
        backend.node().await,
        backend.node().await,
        backend.node().await,
    );
    let ids = a
        .storage
        .log
        .append(vec![event("/chat/room", "hello")])
        .await
        .unwrap();
    // A client that got the id from A may ask B for it before B's tail has it: B waits.
    b.storage
        .log
        .catch_up(ids[0], Duration::from_secs(5))
        .await
        .unwrap();
    assert!(b.storage.log.head() >= ids[0], "caught up");
    for node in [&b, &c] {
        until_head(node, ids[0]).await;
        let events = read_all(node, ChannelFilter::Pattern("/chat/room".into()), 10).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].replay_id, ids[0]);
        assert_eq!(id_in(&events[0].bytes), ids[0], "the same bytes everywhere");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_racing_for_sequences_store_every_event_once() {
    let Some(backend) = jetstream("cluster contention") else {
        return;
    };
    let (a, b) = (backend.node().await, backend.node().await);
    let mut writers = Vec::new();
    for (name, node) in [("a", &a), ("b", &b)] {
        for task in 0..20 {
            let log = node.storage.log.clone();
            writers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..10 {
                    let tag = format!("{name}-{task}-{n}");
                    ids.extend(log.append(vec![event("/race", &tag)]).await.unwrap());
                }
                ids
            }));
        }
    }
    let mut acknowledged = HashSet::new();
    for writer in writers {
        for id in writer.await.unwrap() {
            assert!(acknowledged.insert(id), "replay id {id} given twice");
        }
    }
    assert_eq!(acknowledged.len(), 400);
    let last = *acknowledged.iter().max().unwrap();
    for node in [&a, &b] {
        until_head(node, last).await;
        let events = read_all(node, ChannelFilter::All, 1_000).await;
        assert_eq!(events.len(), 400, "each event stored once");
        let tags: HashSet<String> = events
            .iter()
            .map(|e| crate::backend::tag_of(&e.bytes))
            .collect();
        assert_eq!(tags.len(), 400);
        assert!(events
            .iter()
            .all(|e| id_in(&e.bytes) == e.replay_id && acknowledged.contains(&e.replay_id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_stored_with_its_retention_its_placeholder_and_an_id_of_its_own() {
    let Some(backend) = jetstream("cluster event headers") else {
        return;
    };
    let node = backend.node().await;
    let ids = node
        .storage
        .log
        .append(vec![
            event("/topic/Accounts", "a"),
            event("/event/Low_Ink__e", "b"),
        ])
        .await
        .unwrap();
    let Backend::JetStream(server, prefix) = &backend else {
        unreachable!("a JetStream backend")
    };
    let client = async_nats::connect(&server.url).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(format!("{prefix}_log"))
        .await
        .unwrap();
    let mut message_ids = HashSet::new();
    // Salesforce's retention: 24 hours for PushTopic events, 72 for platform events.
    for (id, ttl) in ids.iter().zip(["86400s", "259200s"]) {
        let stored = stream.get_raw_message(*id).await.unwrap();
        let header = |name: &str| stored.headers.get(name).map(|v| v.as_str().to_owned());
        assert_eq!(header("Nats-TTL").as_deref(), Some(ttl));
        let message_id = header("Nats-Msg-Id").expect("a message id, for resends");
        assert!(message_ids.insert(message_id), "each event its own id");
        let value = header("Bayou-Event").expect("the event's header");
        let (created, offsets) = value.split_once(' ').expect("time, then offsets");
        let created: i64 = created.parse().unwrap();
        assert!(created > 1_700_000_000_000, "epoch milliseconds: {created}");
        let offset: usize = offsets.parse().expect("the id appears once");
        assert_eq!(&stored.payload[..offset], b"{\"id\":", "where the id goes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_revocations_reach_every_node() {
    let Some(backend) = jetstream("cluster tokens") else {
        return;
    };
    let (a, b, c) = (
        backend.node().await,
        backend.node().await,
        backend.node().await,
    );
    let grant = TokenGrant {
        kind: TokenKind::Access,
        user_id: "005A".into(),
        parent: None,
    };
    a.storage
        .tokens
        .insert("00Dx!token".into(), grant)
        .await
        .unwrap();
    let on_b = b.storage.tokens.clone();
    eventually("a token issued on A works on B", WITHIN, || {
        on_b.use_access("00Dx!token").is_some()
    })
    .await;
    assert!(b.storage.tokens.revoke("00Dx!token").await.unwrap());
    let on_c = c.storage.tokens.clone();
    eventually("a token revoked on B fails on C", WITHIN, || {
        on_c.use_access("00Dx!token").is_none()
    })
    .await;
    let on_a = a.storage.tokens.clone();
    eventually("and on A", WITHIN, || {
        on_a.use_access("00Dx!token").is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_on_one_node_reach_the_others_and_say_so() {
    let Some(backend) = jetstream("cluster records") else {
        return;
    };
    let (a, b) = (backend.node().await, backend.node().await);
    let mut changes = b
        .storage
        .log
        .record_changes()
        .expect("a cluster announces others' writes");
    let write = RecordWrite {
        key: b"pushtopic/T".to_vec(),
        value: Some(b"query".to_vec()),
        expected_version: None,
    };
    a.storage
        .log
        .append_with_records(Vec::new(), vec![write])
        .await
        .unwrap();
    let changed = tokio::time::timeout(WITHIN, changes.recv())
        .await
        .expect("B hears of A's write")
        .unwrap();
    assert_eq!(&*changed.keys, [b"pushtopic/T".to_vec()]);
    assert!(changed.through > 0);
    assert_eq!(b.storage.log.changes_announced_through(), changed.through);
    assert_eq!(
        b.storage
            .log
            .record(b"pushtopic/T")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"query"[..])
    );
    let identity_a = a.storage.log.insert_if_absent(b"org", b"from-a".to_vec());
    let identity_b = b.storage.log.insert_if_absent(b"org", b"from-b".to_vec());
    let (identity_a, identity_b) = tokio::join!(identity_a, identity_b);
    assert_eq!(
        identity_a.unwrap(),
        identity_b.unwrap(),
        "two nodes starting at once agree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_floors_are_shared() {
    let Some(backend) = jetstream("cluster counters") else {
        return;
    };
    let (a, b) = (backend.node().await, backend.node().await);
    for _ in 0..3 {
        assert!(a.storage.counters.try_take("PushTopic", 4));
    }
    let counters = b.storage.counters.clone();
    eventually("B counts A's uses", WITHIN, || {
        counters.used("PushTopic") == 3
    })
    .await;
    assert!(b.storage.counters.try_take("PushTopic", 4));
    assert!(
        !b.storage.counters.try_take("PushTopic", 4),
        "the limit is the org's"
    );

    let ids = a
        .storage
        .log
        .append(vec![event("/topic/t", "1"), event("/topic/t", "2")])
        .await
        .unwrap();
    until_head(&b, ids[1]).await;
    a.storage.log.expire_through(ids[0]).unwrap();
    let log = b.storage.log.clone();
    eventually("B refuses replays from what A expired", WITHIN, || {
        log.retention_floor("/topic/t") >= ids[0]
    })
    .await;
    // A node started afterwards knows it too.
    let late = backend.node().await;
    assert!(late.storage.log.retention_floor("/topic/t") >= ids[0]);
    let left = read_all(&late, ChannelFilter::All, 10).await;
    assert_eq!(
        left.iter().map(|e| e.replay_id).collect::<Vec<_>>(),
        [ids[1]]
    );
}

/// What Bayou's writer relies on: a batch JetStream did not commit leaves nothing behind —
/// neither when its writer dies before committing, nor when its sequence check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_stored_whole_or_not_at_all() {
    let Some(backend) = jetstream("atomic batches") else {
        return;
    };
    let node = backend.node().await;
    let ids = node
        .storage
        .log
        .append(vec![event("/chat/a", "before")])
        .await
        .unwrap();
    let Backend::JetStream(server, prefix) = &backend else {
        unreachable!()
    };
    let names = bayou_cluster::subjects::Names::new(prefix).unwrap();
    let subject = names.event_subject("/chat/a");

    // A writer that dies after two of three messages.
    let dying = async_nats::connect(&server.url).await.unwrap();
    for number in 1..=2 {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "dying-writer");
        headers.insert("Nats-Batch-Sequence", number.to_string().as_str());
        let reply = dying
            .request_with_headers(subject.clone(), headers, "{\"tag\":\"partial\"}".into())
            .await;
        assert!(reply.is_ok(), "the server takes the batch's messages");
    }
    drop(dying);

    // A batch whose sequence check fails at commit.
    let writer = async_nats::connect(&server.url).await.unwrap();
    let mut refused = None;
    for number in 1..=3 {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", "stale-writer");
        headers.insert("Nats-Batch-Sequence", number.to_string().as_str());
        if number == 1 {
            headers.insert("Nats-Expected-Last-Sequence", "0");
        }
        if number == 3 {
            headers.insert("Nats-Batch-Commit", "1");
        }
        let reply = writer
            .request_with_headers(subject.clone(), headers, "{\"tag\":\"stale\"}".into())
            .await
            .unwrap();
        if number == 3 {
            refused = Some(String::from_utf8_lossy(&reply.payload).into_owned());
        }
    }
    let refused = refused.unwrap();
    assert!(refused.contains("wrong last sequence"), "{refused}");

    let after = node
        .storage
        .log
        .append(vec![event("/chat/a", "after")])
        .await
        .unwrap();
    assert_eq!(
        after[0],
        ids[0] + 1,
        "nothing of either batch took a sequence"
    );
    until_head(&node, after[0]).await;
    let events = read_all(&backend.node().await, ChannelFilter::All, 10).await;
    let tags: Vec<String> = events
        .iter()
        .map(|e| crate::backend::tag_of(&e.bytes))
        .collect();
    assert_eq!(tags, ["before", "after"]);
}

/// What one node wrote, another has once it synced — without waiting for it to arrive: the
/// sync itself waits. (A client behind a load balancer creates a PushTopic, or logs in,
/// through one node and subscribes through another at once.) B is made to lag: A stores a
/// burst of events, then the record, and B is asked the moment A's acknowledgement comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_synced_has_what_others_wrote_before() {
    let Some(backend) = jetstream("cluster sync") else {
        return;
    };
    let (a, b) = (backend.node().await, backend.node().await);
    for round in 0..10_u32 {
        let burst = (0..500).map(|i| {
            a.storage
                .log
                .append(vec![event("/chat/burst", &i.to_string())])
        });
        let ids: Vec<u64> = futures_util::future::try_join_all(burst)
            .await
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        let key = format!("PushTopic/T{round}").into_bytes();
        let write = RecordWrite {
            key: key.clone(),
            value: Some(b"query".to_vec()),
            expected_version: None,
        };
        a.storage
            .log
            .append_with_records(Vec::new(), vec![write])
            .await
            .unwrap();
        let announced = b.storage.log.sync(WITHIN).await.unwrap();
        let newest = ids.iter().copied().max().unwrap();
        assert!(
            b.storage.log.head() > newest,
            "round {round}: B's tail reached A's write"
        );
        assert!(announced > newest, "round {round}: and announced it");
        assert!(
            b.storage.log.record(&key).await.unwrap().is_some(),
            "round {round}: B has the record"
        );

        // Tokens: the same property. (On one NATS server a token's write reaches B's watch
        // about as soon as A's acknowledgement comes back, so B is rarely caught behind here;
        // the records above are, by the burst of events before them.)
        let tokens: Vec<String> = (0..50).map(|i| format!("00Dx!sync{round}-{i}")).collect();
        let grant = || TokenGrant {
            kind: TokenKind::Access,
            user_id: "005A".into(),
            parent: None,
        };
        futures_util::future::try_join_all(
            tokens
                .iter()
                .map(|t| a.storage.tokens.insert(t.clone(), grant())),
        )
        .await
        .unwrap();
        b.storage.tokens.sync(WITHIN).await.unwrap();
        for token in &tokens {
            assert_eq!(
                b.storage.tokens.use_access(token).as_deref(),
                Some("005A"),
                "round {round}: a token issued on A works on B once B synced"
            );
        }
    }
}

/// A read-modify-write names the version it read: a node whose copy of a record is older than
/// another node's newest write cannot overwrite it — alone or in a batch with the events the
/// change causes, which are then not stored either — and succeeds once it has read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_from_a_stale_read_is_refused_whole() {
    let Some(backend) = jetstream("cluster stale writes") else {
        return;
    };
    let (a, b) = (backend.node().await, backend.node().await);
    let key = b"Account/001".to_vec();
    let put = |value: &str, expected_version| RecordWrite {
        key: key.clone(),
        value: Some(value.as_bytes().to_vec()),
        expected_version,
    };
    let absent = b.storage.log.versioned_record(&key).await.unwrap();
    assert_eq!(absent.value, None);
    assert_eq!(absent.version, Some(0), "never written");
    a.storage
        .log
        .append_with_records(Vec::new(), vec![put("v1", Some(0))])
        .await
        .unwrap();
    b.storage.log.sync(WITHIN).await.unwrap();
    let read_by_b = b.storage.log.versioned_record(&key).await.unwrap();
    assert_eq!(read_by_b.value.as_deref(), Some(&b"v1"[..]));
    let v1 = read_by_b.version.expect("a cluster has versions");
    assert!(v1 > 0);

    // A changes the record after B read it.
    let v2_ids = a
        .storage
        .log
        .append_with_records(
            vec![event("/topic/Accounts", "v2")],
            vec![put("v2", Some(v1))],
        )
        .await
        .unwrap();

    // B's write from its read: refused, alone and with an event in one batch.
    for events in [Vec::new(), vec![event("/topic/Accounts", "stale")]] {
        let refused = b
            .storage
            .log
            .append_with_records(events, vec![put("stale", Some(v1))])
            .await;
        assert!(
            matches!(refused, Err(bayou_log::LogError::Conflict(_))),
            "{refused:?}"
        );
    }
    b.storage.log.sync(WITHIN).await.unwrap();
    let again = b.storage.log.versioned_record(&key).await.unwrap();
    assert_eq!(
        again.value.as_deref(),
        Some(&b"v2"[..]),
        "nothing of B's stored"
    );
    let events = read_all(&b, ChannelFilter::Pattern("/topic/Accounts".into()), 10).await;
    assert_eq!(
        events.iter().map(|e| e.replay_id).collect::<Vec<_>>(),
        v2_ids,
        "the refused batch's event was not stored"
    );

    // Read again, B's change goes in, with its event.
    let v2 = again.version.unwrap();
    assert!(v2 > v1);
    b.storage
        .log
        .append_with_records(
            vec![event("/topic/Accounts", "v3")],
            vec![put("v3", Some(v2))],
        )
        .await
        .unwrap();
    a.storage.log.sync(WITHIN).await.unwrap();
    assert_eq!(
        a.storage.log.record(&key).await.unwrap().as_deref(),
        Some(&b"v3"[..])
    );
    // A removal names the version too, and a removed record keeps its version.
    let v3 = a
        .storage
        .log
        .versioned_record(&key)
        .await
        .unwrap()
        .version
        .unwrap();
    let remove = RecordWrite {
        key: key.clone(),
        value: None,
        expected_version: Some(v3),
    };
    a.storage
        .log
        .append_with_records(Vec::new(), vec![remove])
        .await
        .unwrap();
    let removed = a.storage.log.versioned_record(&key).await.unwrap();
    assert_eq!(removed.value, None);
    assert!(removed.version.unwrap() > v3);
}
