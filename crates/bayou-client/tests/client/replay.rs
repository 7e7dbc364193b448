//! Replay positions: resuming from a durable store across client restarts, and the policies
//! for a replay id the server no longer has.

use std::sync::Arc;
use std::time::Duration;

use bayou_client::{
    ClientError, ExpiredReplay, FileReplayStore, MemoryReplayStore, Notice, ReplayFrom,
    ReplayStore, TransportKind,
};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::broadcast;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_file_store_resumes_where_the_last_run_stopped() {
    const CHANNEL: &str = "/chat/file";
    let bayou = start_engine(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.json");

    // First run: takes 0..5, and stops with 5..8 still unread in its buffer.
    let client = client_for(&bayou, TransportKind::LongPolling)
        .replay_store(FileReplayStore::open(&path).unwrap())
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    let mut messages = client.messages();
    client
        .subscribe_from(CHANNEL, ReplayFrom::New)
        .await
        .unwrap();
    let mut events = client.events().unwrap();
    let running = client.start().unwrap();
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 0..8).await;
    let first = take(&mut events, 5, WAIT).await;
    // The rest reached the client (and so its buffer); they are not taken.
    loop {
        let message = tokio::time::timeout(WAIT, messages.next())
            .await
            .expect("event 7 never reached the client")
            .unwrap()
            .unwrap();
        if message["channel"] == CHANNEL && message["data"]["n"] == 7 {
            break;
        }
    }
    running.stop().await.unwrap();
    drop(events);
    assert_eq!(numbers(&first), vec![0, 1, 2, 3, 4]);

    // Published while no client runs.
    bayou.publish(CHANNEL, 8..12).await;

    // Second run, a new client and a reopened store: exactly what the first did not take.
    let client = client_for(&bayou, TransportKind::WebSocket)
        .replay_store(FileReplayStore::open(&path).unwrap())
        .build()
        .unwrap();
    client
        .subscribe_from(CHANNEL, ReplayFrom::New)
        .await
        .unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    let second = take(&mut events, 7, WAIT).await;
    assert_eq!(numbers(&second), (5..12).collect::<Vec<u64>>());
    assert_no_more(&mut events, Duration::from_millis(500)).await;
}

/// Events 0..5 published, the log expired through event 4, the store pointing at event 2.
async fn expired_setup(channel: &'static str) -> (Bayou, Arc<MemoryReplayStore>) {
    let bayou = start_engine(fast_config()).await;
    let ids = bayou.publish(channel, 0..5).await;
    let expired = bayou.fault("expire-log", json!({"replayId": ids[4]})).await;
    assert!(expired.is_object(), "{expired}");
    bayou.publish(channel, 5..8).await;
    let store = Arc::new(MemoryReplayStore::new());
    store.store(channel, ids[2]).await.unwrap();
    (bayou, store)
}

/// Waits for the `ReplayGap` notice; returns where the client resumed from (`None`: it did not).
async fn replay_gap(notices: &mut broadcast::Receiver<Notice>) -> Option<i64> {
    let gap = notice(notices, WAIT, |n| matches!(n, Notice::ReplayGap { .. })).await;
    match gap {
        Notice::ReplayGap { resumed_from, .. } => resumed_from,
        other => panic!("not a replay gap: {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_replay_id_fails_clearly_by_default() {
    const CHANNEL: &str = "/chat/expired-fail";
    let (bayou, store) = expired_setup(CHANNEL).await;
    let client = client_for(&bayou, TransportKind::LongPolling)
        .replay_store_shared(store)
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    let _running = client.start().unwrap();
    let error = client.subscribe(CHANNEL).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::ReplayIdExpired { channel, error, .. }
            if channel == CHANNEL && error.contains("you provided was invalid.  Please provide")),
        "{error}"
    );
    assert_eq!(replay_gap(&mut notices).await, None);
}

#[tokio::test]
async fn an_expired_replay_id_can_resume_from_the_earliest_event() {
    const CHANNEL: &str = "/chat/expired-earliest";
    let (bayou, store) = expired_setup(CHANNEL).await;
    let client = client_for(&bayou, TransportKind::WebSocket)
        .replay_store_shared(store)
        .expired_replay(ExpiredReplay::ResumeEarliest)
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    client.subscribe(CHANNEL).await.unwrap();
    assert_eq!(replay_gap(&mut notices).await, Some(-2));
    // Everything still retained: 5, 6, 7.
    assert_eq!(numbers(&take(&mut events, 3, WAIT).await), vec![5, 6, 7]);
    assert_no_more(&mut events, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_expired_replay_id_can_resume_with_new_events_only() {
    const CHANNEL: &str = "/chat/expired-new";
    let (bayou, store) = expired_setup(CHANNEL).await;
    let client = client_for(&bayou, TransportKind::LongPolling)
        .replay_store_shared(store)
        .expired_replay(ExpiredReplay::ResumeNew)
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    client.subscribe(CHANNEL).await.unwrap();
    assert_eq!(replay_gap(&mut notices).await, Some(-1));
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 8..10).await;
    assert_eq!(numbers(&take(&mut events, 2, WAIT).await), vec![8, 9]);
}
