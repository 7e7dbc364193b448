//! The event log: ids, bytes, filters, audiences, floors, reads of what is no longer in memory.

use std::time::Duration;

use bayou_log::{Audience, ChannelFilter, NewEvent, StoredEvent};
use bayou_testkit::eventually;

use crate::backend::{event, id_in, tag_of, Backend, Node};
use crate::conformance;

conformance!(
    appends_get_increasing_ids_encoded_into_their_bytes,
    queued_appends_are_stored_in_the_order_queued,
    reads_filter_by_channel_and_pattern,
    audiences_are_kept,
    expired_ids_are_below_the_floor,
    older_events_are_read_back_after_a_restart,
);

/// Waits until the node's tail has passed `id`.
pub async fn until_head(node: &Node, id: u64) {
    let log = node.storage.log.clone();
    eventually(
        "the tail reaches the appended events",
        Duration::from_secs(10),
        || log.head() >= id,
    )
    .await;
}

/// Every event passing `filter`, read page by page as the engine does.
pub async fn read_all(node: &Node, filter: ChannelFilter, page: usize) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let batch = node
            .storage
            .log
            .read(after, filter.clone(), page, 10_000)
            .await
            .unwrap();
        assert!(batch.scanned_through >= after, "reads move forward");
        events.extend(batch.events);
        if batch.reached_head {
            return events;
        }
        after = batch.scanned_through;
    }
}

async fn appends_get_increasing_ids_encoded_into_their_bytes(backend: Backend) {
    let node = backend.node().await;
    let log = &node.storage.log;
    let mut head = log.watch_head();
    let first = log
        .append(vec![
            event("/chat/a", "1"),
            event("/chat/b", "2"),
            event("/chat/a", "3"),
        ])
        .await
        .unwrap();
    let second = log.append(vec![event("/chat/a", "4")]).await.unwrap();
    let ids: Vec<u64> = first.iter().chain(&second).copied().collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing: {ids:?}");
    head.wait_for(|h| *h >= ids[3]).await.unwrap();
    let events = read_all(&node, ChannelFilter::All, 100).await;
    let read: Vec<u64> = events.iter().map(|e| e.replay_id).collect();
    assert_eq!(read, ids);
    for (event, tag) in events.iter().zip(["1", "2", "3", "4"]) {
        assert_eq!(
            id_in(&event.bytes),
            event.replay_id,
            "encoded with its own id"
        );
        assert_eq!(tag_of(&event.bytes), tag);
        assert!(event.created_ms > 1_600_000_000_000);
    }
    assert_eq!(&*events[1].channel, "/chat/b");
    assert!(log.append(Vec::new()).await.unwrap().is_empty());
}

/// Many appends in flight from one caller (a WebSocket publisher's frames): each queued before
/// the next, their acknowledgements awaited later and in reverse, stored in the queue's order.
async fn queued_appends_are_stored_in_the_order_queued(backend: Backend) {
    let node = backend.node().await;
    let log = &node.storage.log;
    let mut acknowledgements = Vec::new();
    for tag in 0..50 {
        let queued = log.queue_append(vec![event("/chat/q", &tag.to_string())]);
        acknowledgements.push(queued.await.unwrap());
    }
    let mut ids = Vec::new();
    for acknowledgement in acknowledgements.into_iter().rev() {
        ids.push(acknowledgement.await.unwrap()[0]);
    }
    ids.reverse();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in queue order: {ids:?}"
    );
    until_head(&node, ids[49]).await;
    let tags: Vec<String> = read_all(&node, ChannelFilter::All, 100)
        .await
        .iter()
        .map(|e| tag_of(&e.bytes))
        .collect();
    let expected: Vec<String> = (0..50).map(|t| t.to_string()).collect();
    assert_eq!(tags, expected);
    let nothing = log.queue_append(Vec::new()).await.unwrap();
    assert!(nothing.await.unwrap().is_empty());
}

async fn reads_filter_by_channel_and_pattern(backend: Backend) {
    let node = backend.node().await;
    let channels = [
        "/chat/a",
        "/chat/b",
        "/topic/x",
        "/chat/a/deep",
        "/chat/a.b c",
    ];
    let events = channels.iter().map(|c| event(c, c)).collect();
    let ids = node.storage.log.append(events).await.unwrap();
    until_head(&node, ids[4]).await;
    let tags = |events: Vec<StoredEvent>| -> Vec<String> {
        events.iter().map(|e| tag_of(&e.bytes)).collect()
    };
    let pattern = |p: &str| ChannelFilter::Pattern(p.to_owned());
    assert_eq!(
        tags(read_all(&node, pattern("/chat/a"), 10).await),
        ["/chat/a"]
    );
    assert_eq!(
        tags(read_all(&node, pattern("/chat/*"), 10).await),
        ["/chat/a", "/chat/b", "/chat/a.b c"]
    );
    assert_eq!(
        tags(read_all(&node, pattern("/chat/**"), 1).await),
        ["/chat/a", "/chat/b", "/chat/a/deep", "/chat/a.b c"],
        "one event a page"
    );
    assert_eq!(
        tags(read_all(&node, pattern("/chat/a.b c"), 10).await),
        ["/chat/a.b c"]
    );
    assert!(read_all(&node, pattern("/none"), 10).await.is_empty());
}

async fn audiences_are_kept(backend: Backend) {
    let node = backend.node().await;
    let mut private = event("/u/notes", "private");
    private.audience = Audience::of(["005A", "005B"]);
    let ids = node
        .storage
        .log
        .append(vec![private, event("/u/notes", "public")])
        .await
        .unwrap();
    until_head(&node, ids[1]).await;
    let events = read_all(&node, ChannelFilter::All, 10).await;
    assert!(events[0].is_for(Some("005B")) && !events[0].is_for(Some("005C")));
    assert!(!events[0].is_for(None));
    assert!(events[1].is_for(None));
}

async fn expired_ids_are_below_the_floor(backend: Backend) {
    let node = backend.node().await;
    let log = &node.storage.log;
    let ids = log
        .append(vec![
            event("/topic/t", "1"),
            event("/topic/t", "2"),
            event("/event/e", "3"),
        ])
        .await
        .unwrap();
    until_head(&node, ids[2]).await;
    assert!(log.retention_floor("/topic/t") < ids[0]);
    log.expire_through(ids[1]).unwrap();
    for channel in ["/topic/t", "/event/e", "/chat/*"] {
        assert!(
            log.retention_floor(channel) >= ids[1],
            "{channel}: replaying from an expired id must be refused"
        );
    }
    let left = log
        .read(ids[1], ChannelFilter::All, 10, 10)
        .await
        .unwrap()
        .events;
    assert_eq!(
        left.iter().map(|e| e.replay_id).collect::<Vec<_>>(),
        [ids[2]]
    );
    // What /healthz reports: the events left, the org's records not counted.
    eventually(
        "the log counts the one event left",
        Duration::from_secs(10),
        || log.stats().events == 1,
    )
    .await;
}

async fn older_events_are_read_back_after_a_restart(backend: Backend) {
    let events: Vec<NewEvent> = (0..50)
        .map(|i| {
            event(
                if i % 2 == 0 { "/even/x" } else { "/odd/x" },
                &i.to_string(),
            )
        })
        .collect();
    let ids = {
        let node = backend.node().await;
        let ids = node.storage.log.append(events).await.unwrap();
        until_head(&node, ids[49]).await;
        ids
    };
    // Nothing of this is in the new node's memory: every read goes to storage.
    let node = backend.node().await;
    assert!(node.storage.log.head() >= ids[49]);
    let even = read_all(&node, ChannelFilter::Pattern("/even/*".into()), 7).await;
    assert_eq!(even.len(), 25);
    assert!(even
        .iter()
        .all(|e| id_in(&e.bytes) == e.replay_id && &*e.channel == "/even/x"));
    let all = read_all(&node, ChannelFilter::All, 10).await;
    assert_eq!(all.iter().map(|e| e.replay_id).collect::<Vec<_>>(), ids);
}
