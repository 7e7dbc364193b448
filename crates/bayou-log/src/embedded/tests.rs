use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::retention::RetentionRule;
use crate::{ChannelFilter, PositionStore, ReadBatch, RecordStore, RecordWrite};

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

/// A log keeping only the last `recent` events in memory, so that reads go to disk.
fn open_with_tail(dir: &Path, recent: usize) -> EmbeddedLog {
    let options = EmbeddedOptions {
        recent_capacity: recent,
        ..EmbeddedOptions::default()
    };
    open(dir, options)
}

fn only(channel: &str) -> ChannelFilter {
    ChannelFilter::Pattern(channel.to_owned())
}

/// Reads as the engine does, inside a runtime.
fn read(
    log: &EmbeddedLog,
    after: u64,
    filter: ChannelFilter,
    max: usize,
    scan: usize,
) -> ReadBatch {
    rt().block_on(log.read(after, filter, max, scan)).unwrap()
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
    let batch = read(&log, 0, only("/a"), 10, 100);
    let bytes: Vec<&[u8]> = batch.events.iter().map(|e| &e.bytes[..]).collect();
    assert_eq!(bytes, vec![&b"1:1"[..], &b"3:3"[..]]);
    assert!(batch.reached_head);
    assert_eq!(batch.scanned_through, 3);
}

#[test]
fn reads_from_disk_match_reads_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_tail(dir.path(), 4);
    let events = (0..20)
        .map(|i| event(if i % 3 == 0 { "/x" } else { "/y" }, &i.to_string()))
        .collect();
    rt().block_on(log.append(events)).unwrap();
    // After 0, ids 1..16 are only on disk; ask in small pieces.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let batch = read(&log, after, only("/x"), 2, 5);
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
    assert!(read(&log, 0, ChannelFilter::All, 10, 100).events.is_empty());
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
    let left: Vec<u64> = read(&log, 0, ChannelFilter::All, 10, 100)
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
    let left: Vec<u64> = read(&log, 0, ChannelFilter::All, 10, 100)
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
    assert_eq!(
        read(&log, 0, ChannelFilter::All, 1_000, 1_000).events.len(),
        200
    );
}

#[test]
fn records_and_events_are_written_together() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), EmbeddedOptions::default());
        let write = |k: &str, v: Option<&str>| RecordWrite {
            key: k.as_bytes().to_vec(),
            value: v.map(|v| v.as_bytes().to_vec()),
            expected_version: None,
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
    assert_eq!(rt().block_on(log.record(b"Account/1")).unwrap(), None);
    assert_eq!(
        rt().block_on(log.record(b"Account/2")).unwrap().as_deref(),
        Some(&b"{\"x\":1}"[..])
    );
    assert_eq!(rt().block_on(log.records(b"Account/")).unwrap().len(), 1);
    assert_eq!(log.head(), 1);
}

/// An append queued for the writer thread (the commit lock was busy) is not overtaken by the
/// caller's next append, which would otherwise be written inline the moment the lock is free,
/// before the writer thread has taken the first: a WebSocket publisher's frames in flight keep
/// their order.
#[test]
fn a_relaxed_append_does_not_overtake_one_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        EmbeddedOptions {
            durability: Durability::Relaxed,
            ..EmbeddedOptions::default()
        },
    );
    let rt = rt();
    for round in 0..20 {
        let busy = log.inner.commit_lock.lock();
        let first = rt
            .block_on(log.queue_append(vec![event("/o", &format!("{round}-a"))]))
            .unwrap();
        drop(busy);
        let second = rt
            .block_on(log.queue_append(vec![event("/o", &format!("{round}-b"))]))
            .unwrap();
        let (first, second) = rt.block_on(async { (first.await, second.await) });
        assert!(
            first.unwrap()[0] < second.unwrap()[0],
            "round {round}: the second append overtook the first"
        );
    }
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
                            expected_version: None,
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
    let events = read(&log, 0, ChannelFilter::All, 1_000, 1_000).events;
    let ids: Vec<u64> = events.iter().map(|e| e.replay_id).collect();
    assert_eq!(ids, (1..=800).collect::<Vec<u64>>());
    assert!(events
        .windows(2)
        .all(|w| w[0].created_ms <= w[1].created_ms));
    assert!(events
        .iter()
        .all(|e| e.bytes.starts_with(format!("{}:", e.replay_id).as_bytes())));
    assert_eq!(rt().block_on(log.records(b"R/")).unwrap().len(), 400);
}

/// A relaxed log is synced in the background, within about an interval of each write.
#[test]
fn a_relaxed_log_is_synced_in_the_background() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        durability: Durability::Relaxed,
        ..EmbeddedOptions::default()
    };
    let log = open(dir.path(), options);
    // Synced through its own descriptor of fjall's active journal, found by name: a fjall
    // that named its journals otherwise would quietly fall back to its locked sync.
    assert!(super::syncer::newest_journal(dir.path()).is_some());
    for round in 1..=3 {
        rt().block_on(log.append(vec![event("/r", "x")])).unwrap();
        let commits = log.inner.commits.load(Ordering::Acquire);
        assert_eq!(commits, round, "one commit per append here");
        // Polled until it happens: the syncing thread's interval is 100 ms.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.inner.synced_commits.load(Ordering::Acquire) < commits {
            assert!(std::time::Instant::now() < deadline, "never synced");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

#[test]
fn committed_positions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), EmbeddedOptions::default());
        let rt = rt();
        assert_eq!(rt.block_on(log.committed("sub-a")).unwrap(), None);
        rt.block_on(log.commit("sub-a", 42)).unwrap();
        rt.block_on(log.commit("sub-b", 7)).unwrap();
        rt.block_on(log.commit("sub-b", 5)).unwrap(); // a rewind is kept as given
        assert!(rt
            .block_on(log.forget("sub-c"))
            .map(|existed| !existed)
            .unwrap());
    }
    let log = open(dir.path(), EmbeddedOptions::default());
    let rt = rt();
    assert_eq!(rt.block_on(log.committed("sub-a")).unwrap(), Some(42));
    assert_eq!(rt.block_on(log.committed("sub-b")).unwrap(), Some(5));
    assert!(rt.block_on(log.forget("sub-a")).unwrap());
    assert_eq!(rt.block_on(log.committed("sub-a")).unwrap(), None);
}

#[test]
fn reads_older_than_the_tail_cache_come_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_tail(dir.path(), 4);
    let events = (0..20)
        .map(|i| event(if i % 2 == 0 { "/a" } else { "/b" }, "x"))
        .collect();
    rt().block_on(log.append(events)).unwrap();
    let batch = read(&log, 0, only("/a"), 100, 100);
    let ids: Vec<u64> = batch.events.iter().map(|e| e.replay_id).collect();
    assert_eq!(ids, (1..=20).step_by(2).collect::<Vec<u64>>());
    assert!(batch.reached_head);
    // Outside a runtime (tools opening the log directly) the read runs in place.
    let batch = futures_ready(log.read(0, ChannelFilter::All, 5, 100));
    assert_eq!(batch.events.len(), 5);
    assert_eq!(batch.scanned_through, 5);
}

/// Polls a future that must be ready at once.
fn futures_ready<T>(future: crate::StoreFuture<'_, T>) -> T {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = future;
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result.unwrap(),
        std::task::Poll::Pending => panic!("a read outside a runtime must not wait"),
    }
}

#[test]
fn one_channel_is_read_through_the_index_whatever_the_log_holds() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_tail(dir.path(), 8);
    let rt = rt();
    let mut events: Vec<NewEvent> = (0..20_000)
        .map(|i| event("/busy", &i.to_string()))
        .collect();
    events.insert(10_000, event("/quiet", "middle"));
    rt.block_on(log.append(events)).unwrap();
    rt.block_on(log.append(vec![event("/quiet", "last")]))
        .unwrap();
    // A scan examining at most 10 records per call would need thousands of calls; the index
    // answers in one, and returns only the channel's events.
    let batch = read(&log, 0, only("/quiet"), 100, 10);
    let texts: Vec<String> = batch
        .events
        .iter()
        .map(|e| String::from_utf8(e.bytes.to_vec()).unwrap())
        .collect();
    assert_eq!(texts, vec!["10001:middle", "20002:last"]);
    assert!(batch.reached_head);
    let empty = read(&log, 0, only("/never"), 100, 10);
    assert!(empty.events.is_empty() && empty.reached_head);
    assert_eq!(empty.scanned_through, 20_002);
    // A limit stops the read at the last event returned.
    let first = read(&log, 0, only("/quiet"), 1, 10);
    assert_eq!(
        (
            first.events.len(),
            first.scanned_through,
            first.reached_head
        ),
        (1, 10_001, false)
    );
    let rest = read(&log, first.scanned_through, only("/quiet"), 1, 10);
    assert_eq!(rest.events[0].replay_id, 20_002);
}

#[test]
fn the_index_agrees_with_a_scan_and_forgets_expired_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_tail(dir.path(), 4);
    let channels = ["/a", "/b", "/a/b", "/c"];
    let events = (0..3_000)
        .map(|i| event(channels[(i * 7 + i / 3) % 4], &i.to_string()))
        .collect();
    rt().block_on(log.append(events)).unwrap();
    let ids_of = |channel: &str, batch: &ReadBatch| -> Vec<u64> {
        batch
            .events
            .iter()
            .filter(|e| &*e.channel == channel)
            .map(|e| e.replay_id)
            .collect()
    };
    let everything = read(&log, 0, ChannelFilter::All, 10_000, 10_000);
    for channel in channels {
        let by_index = read(&log, 0, only(channel), 10_000, 10_000);
        assert_eq!(
            ids_of(channel, &by_index),
            ids_of(channel, &everything),
            "{channel}"
        );
        assert_eq!(by_index.events.len(), ids_of(channel, &by_index).len());
    }
    // Blocks 0 and 1 (ids up to 2,047) end up empty; block 2 keeps events after 2,100.
    log.expire_through(2_100).unwrap();
    for channel in channels {
        let ids = ids_of(channel, &read(&log, 0, only(channel), 10_000, 10_000));
        assert!(
            !ids.is_empty() && ids.iter().all(|id| *id > 2_100),
            "{channel}: {ids:?}"
        );
    }
    let blocks: Vec<u64> = log
        .inner
        .by_channel
        .iter()
        .map(|guard| codec::index_block(&guard.key().unwrap()).unwrap())
        .collect();
    assert!(
        blocks.iter().all(|b| *b >= 2),
        "entries of emptied blocks remain: {blocks:?}"
    );
    assert_eq!(blocks.len(), 4, "one entry per channel in block 2");
}

#[test]
fn a_log_from_before_the_index_is_indexed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), EmbeddedOptions::default());
        let events = (0..50)
            .map(|i| event(if i % 5 == 0 { "/x" } else { "/y" }, "e"))
            .collect();
        rt().block_on(log.append(events)).unwrap();
        // As an older version left it: no index, no marker.
        let keys: Vec<_> = log
            .inner
            .by_channel
            .iter()
            .map(|g| g.key().unwrap())
            .collect();
        for key in keys {
            log.inner.by_channel.remove(key).unwrap();
        }
        log.inner.meta.remove(META_INDEXED).unwrap();
    }
    let log = open_with_tail(dir.path(), 1);
    let ids: Vec<u64> = read(&log, 0, only("/x"), 100, 100)
        .events
        .iter()
        .map(|e| e.replay_id)
        .collect();
    assert_eq!(ids, vec![1, 6, 11, 16, 21, 26, 31, 36, 41, 46]);
}
