//! The watchdog: a connect unanswered past the advised timeout plus the grace period is a
//! silent stall, and the client reconnects instead of waiting forever. Driven by a proxy that
//! stops forwarding bytes while keeping every connection open.

use std::time::Duration;

use bayou_client::{Client, Notice, ReplayFrom, TransportKind};

use crate::support::*;

const CHANNEL: &str = "/chat/stall";
const WAIT: Duration = Duration::from_secs(20);

async fn recovers_from_a_silent_stall(transport: TransportKind) {
    let bayou = start_engine(fast_config()).await;
    let proxy = FreezingProxy::start(&bayou.base).await;
    let client = Client::builder()
        .instance_url(&proxy.base)
        .auth(password_flow(&bayou))
        .transport(transport)
        .backoff(Duration::from_millis(50), Duration::from_millis(300))
        .stall_grace(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    client
        .subscribe_from(CHANNEL, ReplayFrom::New)
        .await
        .unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 0..5).await;
    let mut got = take(&mut events, 5, WAIT).await;

    proxy.freeze(true);
    bayou.publish(CHANNEL, 5..10).await;
    let stalled = notice(&mut notices, WAIT, |n| matches!(n, Notice::Stalled { .. })).await;
    let Notice::Stalled { waited } = stalled else {
        unreachable!()
    };
    // The hold is 1.5 s and the grace 1 s: the stall is called after that, not before.
    assert!(waited >= Duration::from_millis(2_500), "{waited:?}");
    proxy.freeze(false);

    bayou.publish(CHANNEL, 10..15).await;
    got.extend(take(&mut events, 10, WAIT).await);
    assert_eq!(numbers(&got), (0..15).collect::<Vec<u64>>());
    assert_no_more(&mut events, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn long_polling_reconnects_after_a_silent_stall() {
    recovers_from_a_silent_stall(TransportKind::LongPolling).await;
}

#[tokio::test]
async fn websocket_reconnects_after_a_silent_stall() {
    recovers_from_a_silent_stall(TransportKind::WebSocket).await;
}
