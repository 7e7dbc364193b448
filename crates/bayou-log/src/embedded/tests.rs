use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::retention::RetentionRule;
use crate::{RecordStore, RecordWrite};

fn event(channel: &str, text: &str) -> NewEvent {
    let text = text.to_owned();
    NewEvent {
        channel: channel.to_owned(),
        encode: Box::new(move |id, _| Bytes::from(format!("{id}:{text}"))),
        audience: None,
    }
}

fn open(dir: &Path, options: EmbeddedOptions) -> EmbeddedLog {
    EmbeddedLog::open(dir, options).unwrap()
}

fn all(_: &str) -> bool {
    true
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn appends_get_increasing_ids_and_read_back_by_channel() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    let ids = rt()
        .block_on(log.append(vec![event("/a", "1"), event("/b", "2"), event("/a", "3")]))
        .unwrap();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(log.head(), 3);
    let batch = log.read(0, &|c| c == "/a", 10, 100).unwrap();
    let bytes: Vec<&[u8]> = batch.events.iter().map(|e| &e.bytes[..]).collect();
    assert_eq!(bytes, vec![&b"1:1"[..], &b"3:3"[..]]);
    assert!(batch.reached_head);
    assert_eq!(batch.scanned_through, 3);
}

#[test]
fn reads_from_disk_match_reads_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        recent_capacity: 4,
        ..EmbeddedOptions::default()
    };
    let log = open(dir.path(), options);
    let events = (0..20)
        .map(|i| event(if i % 3 == 0 { "/x" } else { "/y" }, &i.to_string()))
        .collect();
    rt().block_on(log.append(events)).unwrap();
    // After 0, ids 1..16 are only on disk; ask in small pieces.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let batch = log.read(after, &|c| c == "/x", 2, 5).unwrap();
        seen.extend(batch.events.iter().map(|e| e.replay_id));
        after = batch.scanned_through;
        if batch.reached_head {
            break;
        }
    }
    assert_eq!(seen, vec![1, 4, 7, 10, 13, 16, 19]);
}

#[test]
fn the_head_survives_a_restart_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), EmbeddedOptions::default());
        rt().block_on(log.append(vec![event("/a", "1"), event("/a", "2")]))
            .unwrap();
        assert_eq!(log.expire_through(2).unwrap(), 2);
        assert_eq!(log.retention_floor("/a"), 2);
    }
    let log = open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.head(), 2);
    assert_eq!(log.retention_floor("/a"), 2);
    assert!(log.read(0, &all, 10, 100).unwrap().events.is_empty());
    let ids = rt().block_on(log.append(vec![event("/a", "3")])).unwrap();
    assert_eq!(ids, vec![3]);
    let stats = log.stats();
    assert_eq!((stats.head, stats.events, stats.expired), (3, 1, 2));
}

#[test]
fn retention_removes_old_events_by_rule_and_raises_floors() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        retention: RetentionPolicy::new(vec![
            RetentionRule::new("/short/**", Duration::ZERO).unwrap(),
            RetentionRule::new("/long/**", Duration::from_secs(3_600)).unwrap(),
        ]),
        ..EmbeddedOptions::default()
    };
    let log = open(dir.path(), options);
    rt().block_on(log.append(vec![
        event("/short/a", "1"),
        event("/long/a", "2"),
        event("/short/b", "3"),
    ]))
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(log.expire_now().unwrap(), 2);
    let left: Vec<u64> = log
        .read(0, &all, 10, 100)
        .unwrap()
        .events
        .iter()
        .map(|e| e.replay_id)
        .collect();
    assert_eq!(left, vec![2]);
    assert_eq!(log.retention_floor("/short/x"), 3);
    assert_eq!(log.retention_floor("/long/a"), 0);
    assert_eq!(log.retention_floor("/**"), 3);
}

#[test]
fn size_rules_keep_the_newest_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut rule = RetentionRule::new("/capped", Duration::from_secs(3_600)).unwrap();
    // Each record is 10 bytes of header + 7 of channel + 3 of payload = 20 bytes.
    rule.max_bytes = Some(45);
    let options = EmbeddedOptions {
        retention: RetentionPolicy::new(vec![rule]),
        ..EmbeddedOptions::default()
    };
    let log = open(dir.path(), options);
    let events = (0..5).map(|i| event("/capped", &i.to_string())).collect();
    rt().block_on(log.append(events)).unwrap();
    assert_eq!(log.expire_now().unwrap(), 3);
    let left: Vec<u64> = log
        .read(0, &all, 10, 100)
        .unwrap()
        .events
        .iter()
        .map(|e| e.replay_id)
        .collect();
    assert_eq!(left, vec![4, 5]);
}

#[test]
fn concurrent_appends_share_group_commits_and_keep_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path(), EmbeddedOptions::default()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ids = runtime.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let log = std::sync::Arc::clone(&log);
                tokio::spawn(async move {
                    log.append(vec![event("/c", &i.to_string())]).await.unwrap()[0]
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids
    });
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, (1..=200).collect::<Vec<u64>>());
    assert_eq!(log.read(0, &all, 1_000, 1_000).unwrap().events.len(), 200);
}

#[test]
fn records_and_events_are_written_together() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), EmbeddedOptions::default());
        let write = |k: &str, v: Option<&str>| RecordWrite {
            key: k.as_bytes().to_vec(),
            value: v.map(|v| v.as_bytes().to_vec()),
        };
        let ids = rt()
            .block_on(log.append_with_records(
                vec![event("/topic/T", "created")],
                vec![write("Account/1", Some("{}"))],
            ))
            .unwrap();
        assert_eq!(ids, vec![1]);
        // A record change that causes no event is still written.
        rt().block_on(
            log.append_with_records(Vec::new(), vec![write("Account/2", Some("{\"x\":1}"))]),
        )
        .unwrap();
        rt().block_on(log.append_with_records(Vec::new(), vec![write("Account/1", None)]))
            .unwrap();
    }
    let log = open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.record(b"Account/1").unwrap(), None);
    assert_eq!(
        log.record(b"Account/2").unwrap().as_deref(),
        Some(&b"{\"x\":1}"[..])
    );
    assert_eq!(log.records(b"Account/").unwrap().len(), 1);
    assert_eq!(log.head(), 1);
}

/// Relaxed durability writes in the caller's thread instead of the writer's: appends from many
/// threads at once still get contiguous ids in call order, creation times that never go
/// backwards, and records written with their events.
#[test]
fn relaxed_appends_from_many_threads_keep_ids_order_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let relaxed = || EmbeddedOptions {
        durability: Durability::Relaxed,
        ..EmbeddedOptions::default()
    };
    {
        let log = std::sync::Arc::new(open(dir.path(), relaxed()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut last = 0;
                    for i in 0..100 {
                        let text = format!("{t}-{i}");
                        let write = RecordWrite {
                            key: format!("R/{text}").into_bytes(),
                            value: Some(b"{}".to_vec()),
                        };
                        let ids = rt()
                            .block_on(log.append_with_records(
                                vec![event("/r", &text), event("/r", &text)],
                                vec![write],
                            ))
                            .unwrap();
                        assert_eq!(ids.len(), 2);
                        assert_eq!(ids[1], ids[0] + 1, "one append's ids are contiguous");
                        assert!(ids[0] > last, "a thread's appends are stored in call order");
                        last = ids[1];
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(log.head(), 800);
    }
    let log = open(dir.path(), relaxed());
    let events = log.read(0, &all, 1_000, 1_000).unwrap().events;
    let ids: Vec<u64> = events.iter().map(|e| e.replay_id).collect();
    assert_eq!(ids, (1..=800).collect::<Vec<u64>>());
    assert!(events
        .windows(2)
        .all(|w| w[0].created_ms <= w[1].created_ms));
    assert!(events
        .iter()
        .all(|e| e.bytes.starts_with(format!("{}:", e.replay_id).as_bytes())));
    assert_eq!(log.records(b"R/").unwrap().len(), 400);
}
