//! Zero gaps and zero duplicates across a forced re-handshake, a token revocation and a
//! server restart, over long-polling and over WebSocket.

use std::time::Duration;

use bayou_client::{Notice, ReplayFrom, TransportKind};
use serde_json::json;

use crate::support::*;

const CHANNEL: &str = "/chat/recovery";
const WAIT: Duration = Duration::from_secs(20);

async fn survives_every_fault(transport: TransportKind) {
    let mut bayou = start_engine(fast_config()).await;
    let client = client_for(&bayou, transport).build().unwrap();
    let mut notices = client.notice_receiver();
    // Subscribed before start: sent with the first handshake.
    client
        .subscribe_from(CHANNEL, ReplayFrom::New)
        .await
        .unwrap();
    let mut events = client.events().unwrap();
    let running = client.start().unwrap();
    let connected = notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Connected { .. })
    })
    .await;
    let expected_transport = match transport {
        TransportKind::WebSocket => "websocket",
        _ => "long-polling",
    };
    assert!(
        matches!(&connected, Notice::Connected { transport, .. } if transport == expected_transport),
        "{connected:?}"
    );
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;

    // 1. Normal delivery.
    bayou.publish(CHANNEL, 0..10).await;
    let mut got = take(&mut events, 10, WAIT).await;

    // 2. The server forgets the session; events published before the client notices are
    //    replayed after the re-handshake.
    let expired = bayou.fault("expire-session", json!({"all": true})).await;
    assert_eq!(expired["expired"], 1, "{expired}");
    bayou.publish(CHANNEL, 10..20).await;
    notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::SessionLost { .. })
    })
    .await;
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 20..25).await;
    got.extend(take(&mut events, 15, WAIT).await);

    // 3. Every token of the user is revoked: the client logs in again by itself.
    bayou
        .fault("invalidate-tokens", json!({"username": USER}))
        .await;
    bayou.publish(CHANNEL, 25..35).await;
    notice(
        &mut notices,
        WAIT,
        |n| matches!(n, Notice::Reauthenticating { reason } if reason.starts_with("401::")),
    )
    .await;
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    got.extend(take(&mut events, 10, WAIT).await);

    // 4. The server restarts (same port, same data): sessions and tokens are gone, the log
    //    is not. Events published while the client was away arrive by replay.
    while notices.try_recv().is_ok() {}
    bayou.restart().await;
    bayou.publish(CHANNEL, 35..45).await;
    // Its tokens did not survive: the old one gets `403::Handshake denied` (401 reason).
    notice(
        &mut notices,
        WAIT,
        |n| matches!(n, Notice::Reauthenticating { reason } if reason.starts_with("401::")),
    )
    .await;
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 45..50).await;
    got.extend(take(&mut events, 15, WAIT).await);

    assert_eq!(
        numbers(&got),
        (0..50).collect::<Vec<u64>>(),
        "gaps or duplicates"
    );
    let ids: Vec<i64> = got.iter().map(|e| e.replay_id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "replay ids not increasing: {ids:?}"
    );
    assert_no_more(&mut events, Duration::from_millis(500)).await;
    // The store holds the last event taken.
    assert_eq!(
        client.replay_store().get(CHANNEL).await.unwrap(),
        Some(*ids.last().unwrap())
    );
    running.stop().await.unwrap();
    assert!(!client.is_running());
}

#[tokio::test]
async fn long_polling_survives_rehandshake_revocation_and_restart() {
    survives_every_fault(TransportKind::LongPolling).await;
}

#[tokio::test]
async fn websocket_survives_rehandshake_revocation_and_restart() {
    survives_every_fault(TransportKind::WebSocket).await;
}

/// A dropped connection may have taken events with it that the server will not send again
/// on that session; the client re-subscribes on a new one from the last event it handed over.
async fn dropped_connections_lose_nothing(transport: TransportKind) {
    let bayou = start_engine(fast_config()).await;
    let client = client_for(&bayou, transport).build().unwrap();
    let mut notices = client.notice_receiver();
    client.subscribe(CHANNEL).await.unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 0..3).await;
    let mut got = take(&mut events, 3, WAIT).await;
    bayou.fault("drop-connections", json!({})).await;
    bayou.publish(CHANNEL, 3..6).await;
    // Over long-polling the held connect is answered and the session goes on; over WebSocket
    // the socket closes and the client re-subscribes on a new session.
    if transport == TransportKind::WebSocket {
        notice(&mut notices, WAIT, |n| {
            matches!(n, Notice::TransportError { .. })
        })
        .await;
    }
    bayou.publish(CHANNEL, 6..9).await;
    got.extend(take(&mut events, 6, WAIT).await);
    assert_eq!(numbers(&got), (0..9).collect::<Vec<u64>>());
    assert_no_more(&mut events, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn long_polling_loses_nothing_when_connections_drop() {
    dropped_connections_lose_nothing(TransportKind::LongPolling).await;
}

#[tokio::test]
async fn websocket_loses_nothing_when_connections_drop() {
    dropped_connections_lose_nothing(TransportKind::WebSocket).await;
}

/// `403::Handshake denied` for a limit (advice `none`) is not obeyed silently: the client
/// keeps trying with backoff and gets in once a slot frees up.
#[tokio::test]
async fn a_concurrent_client_limit_is_waited_out() {
    let config = bayou_server::EngineConfig {
        max_sessions: Some(1),
        ..fast_config()
    };
    let bayou = start_engine(config).await;
    let first = client_for(&bayou, TransportKind::LongPolling)
        .build()
        .unwrap();
    let mut first_notices = first.notice_receiver();
    let first_running = first.start().unwrap();
    notice(&mut first_notices, WAIT, |n| {
        matches!(n, Notice::Connected { .. })
    })
    .await;

    let second = client_for(&bayou, TransportKind::LongPolling)
        .build()
        .unwrap();
    let mut notices = second.notice_receiver();
    second.subscribe(CHANNEL).await.unwrap();
    let mut events = second.events().unwrap();
    let _second_running = second.start().unwrap();
    let refused = notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::SessionLost { .. })
    })
    .await;
    assert!(
        matches!(&refused, Notice::SessionLost { reason } if reason == "403::Organization concurrent user limit exceeded"),
        "{refused:?}"
    );
    first_running.stop().await.unwrap();
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    // The only slot is the second client's: it publishes to itself.
    for n in 0..3u64 {
        second.publish(CHANNEL, json!({ "n": n })).await.unwrap();
    }
    assert_eq!(numbers(&take(&mut events, 3, WAIT).await), vec![0, 1, 2]);
}

/// A re-handshake with a revoked token gets `403::Handshake denied` with the reason in
/// `ext.sfdc.failureReason`; the client logs in again instead of looping on the dead token.
#[tokio::test]
async fn a_denied_handshake_logs_in_again() {
    use futures_util::StreamExt;
    // A long hold, so that the faults below land while a connect is held (between two
    // connects, the next connect would meet the revoked token first: a 401, not a handshake).
    let config = bayou_server::EngineConfig {
        timeout: Duration::from_secs(10),
        ..fast_config()
    };
    let bayou = start_engine(config).await;
    let client = client_for(&bayou, TransportKind::LongPolling)
        .build()
        .unwrap();
    let mut notices = client.notice_receiver();
    let mut messages = client.messages();
    client.subscribe(CHANNEL).await.unwrap();
    let mut events = client.events().unwrap();
    let _running = client.start().unwrap();
    let Notice::Connected { client_id, .. } = notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Connected { .. })
    })
    .await
    else {
        unreachable!()
    };
    notice(&mut notices, WAIT, subscribed(CHANNEL)).await;
    bayou.publish(CHANNEL, 0..2).await;
    let mut got = take(&mut events, 2, WAIT).await;
    let engine = bayou.engine().clone();
    eventually("a connect is held after the events", WAIT, || {
        engine
            .session(&client_id)
            .is_some_and(|s| s.is_holding() && s.queued() == 0)
    })
    .await;
    // The token goes, then the session (which answers the held connect with
    // `403::Unknown client`): the next step is a handshake with the revoked token.
    bayou
        .fault("invalidate-tokens", json!({"username": USER}))
        .await;
    bayou.fault("expire-session", json!({"all": true})).await;
    bayou.publish(CHANNEL, 2..4).await;
    got.extend(take(&mut events, 2, WAIT).await);
    assert_eq!(numbers(&got), vec![0, 1, 2, 3]);
    let mut denied = None;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(200), messages.next()).await
    {
        if message["channel"] == "/meta/handshake" && message["successful"] == false {
            denied = Some(message);
        }
    }
    let denied = denied.expect("no denied handshake seen");
    assert_eq!(denied["error"], "403::Handshake denied");
    assert_eq!(
        denied["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
}
