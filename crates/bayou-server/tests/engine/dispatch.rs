//! The dispatcher's timing, on Tokio's paused clock: below the coalescing threshold an event
//! reaches its subscriber without waiting for any timer.

use std::sync::Arc;

use bayou_log::embedded::{Durability, MemoryCounters};
use bayou_log::{EmbeddedLog, EmbeddedOptions};
use bayou_protocol::api_version::ApiVersion;
use bayou_protocol::decode_batch;
use bayou_server::engine::{RequestContext, Session, Step};
use bayou_server::{AllowAll, Credentials, Engine, TransportKind};
use serde_json::{json, Value};
use tokio::time::{Duration, Instant};

use crate::support::{channel, data, quick_config};

/// Handles one message as a long-polling request would; returns the reply as JSON.
async fn handle(engine: &Engine, message: Value) -> Value {
    let body = serde_json::to_vec(&message).unwrap();
    let mut batch = decode_batch(&body, 10).unwrap();
    let ctx = RequestContext {
        credentials: &Credentials::default(),
        transport: TransportKind::LongPolling,
        batch_len: 1,
        api_version: ApiVersion::new(66.0, false),
    };
    match engine.handle(batch.remove(0), ctx).await {
        Step::Reply(reply) => serde_json::from_slice(&reply.encode()).unwrap(),
        Step::Connect(_) => panic!("no connect here"),
    }
}

/// Waits until `session` has a message queued.
async fn until_queued(session: &Session) {
    loop {
        let notified = session.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if session.queued() > 0 {
            return;
        }
        notified.await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_event_right_after_a_round_is_dispatched_without_waiting_for_a_timer_tick() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        // Written in the publishing task: nothing here waits on another thread.
        durability: Durability::Relaxed,
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(EmbeddedLog::open(dir.path(), options).unwrap());
    let engine = Engine::new(
        quick_config(),
        Arc::new(AllowAll),
        log,
        Arc::new(MemoryCounters::default()),
    );
    let _dispatcher = engine.spawn_dispatcher();
    let handshake = handle(
        &engine,
        json!({"channel": "/meta/handshake", "version": "1.0",
               "supportedConnectionTypes": ["long-polling"]}),
    )
    .await;
    let id = handshake["clientId"].as_str().unwrap().to_owned();
    let subscribed = handle(
        &engine,
        json!({"channel": "/meta/subscribe", "clientId": id, "subscription": "/chat/a"}),
    )
    .await;
    assert_eq!(subscribed["successful"], true, "{subscribed}");
    let session = engine.session(&id).unwrap();

    // Between two ticks of Tokio's millisecond timer wheel, a first event, then a second as
    // soon as the first is delivered: the second comes right after the dispatcher's round.
    tokio::time::advance(Duration::from_micros(300)).await;
    for text in ["first", "second"] {
        let published = Instant::now();
        engine
            .publish(&channel("/chat/a"), data(text))
            .await
            .unwrap();
        until_queued(&session).await;
        // The paused clock moves only when every task waits for a timer: had the dispatcher
        // slept until the next tick, it would have moved.
        assert_eq!(
            published.elapsed(),
            Duration::ZERO,
            "{text} waited for a timer"
        );
        assert_eq!(session.drain(10).len(), 1);
    }
}
