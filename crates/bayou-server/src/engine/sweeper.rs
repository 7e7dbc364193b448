//! Removes sessions that stopped connecting.
//!
//! A session lives while it holds a connect, and for `maxInterval` after its last connect was
//! answered (Salesforce's 40 s "reconnect timeout"). After that its next request gets
//! `403::Unknown client` with advice to handshake again.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::{CloseReason, Engine};

pub(super) fn spawn(engine: Weak<Engine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let period = match engine.upgrade() {
                Some(engine) => {
                    sweep(&engine);
                    (engine.config.max_interval / 4)
                        .clamp(Duration::from_millis(20), Duration::from_secs(1))
                }
                None => return,
            };
            tokio::time::sleep(period).await;
        }
    })
}

fn sweep(engine: &Engine) {
    let now = Instant::now();
    let max_interval = engine.config.max_interval;
    let expired: Vec<String> = engine
        .sessions
        .read()
        .values()
        .filter(|s| s.is_expired(now, max_interval))
        .map(|s| s.id().to_owned())
        .collect();
    for id in expired {
        engine.remove_session(&id, CloseReason::Expired);
    }
}
