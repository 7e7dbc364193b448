//! An application slower than the stream: the buffer is bounded, the client stops reading
//! while it is full, says so (`Notice::SlowConsumer`), and when the server has meanwhile
//! dropped the session (no connect within `maxInterval`), resumes by replay — nothing lost,
//! nothing repeated.

use std::time::Duration;

use bayou_client::{Notice, TransportKind};

use crate::support::*;

const CHANNEL: &str = "/chat/slow";
const WAIT: Duration = Duration::from_secs(20);

async fn a_slow_application_loses_nothing(transport: TransportKind) -> Vec<Notice> {
    let bayou = start_engine(fast_config()).await;
    let client = client_for(&bayou, transport)
        .buffer(2)
        .slow_consumer_warning(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    client.subscribe(CHANNEL).await.unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;

    bayou.publish(CHANNEL, 0..40).await;
    // The application is busy for twice the server's maxInterval (2 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut seen = Vec::new();
    while let Ok(n) = notices.try_recv() {
        seen.push(n);
    }
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notice::SlowConsumer { .. })),
        "no SlowConsumer notice: {seen:?}"
    );
    let got = take(&mut events, 40, WAIT).await;
    assert_eq!(numbers(&got), (0..40).collect::<Vec<u64>>());
    bayou.publish(CHANNEL, 40..45).await;
    assert_eq!(
        numbers(&take(&mut events, 5, WAIT).await),
        (40..45).collect::<Vec<u64>>()
    );
    assert_no_more(&mut events, Duration::from_millis(300)).await;
    while let Ok(n) = notices.try_recv() {
        seen.push(n);
    }
    seen
}

#[tokio::test]
async fn long_polling_slow_application() {
    session_came_back_by_replay(a_slow_application_loses_nothing(TransportKind::LongPolling).await);
}

#[tokio::test]
async fn websocket_slow_application() {
    session_came_back_by_replay(a_slow_application_loses_nothing(TransportKind::WebSocket).await);
}

/// The session expired while the client was not connecting, and was rebuilt.
fn session_came_back_by_replay(notices: Vec<Notice>) {
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::SessionLost { .. })),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Subscribed { replay_from, .. } if *replay_from > 0)),
        "not re-subscribed from a replay id: {notices:?}"
    );
}
