//! Fault injection: the failures Salesforce streaming clients meet in production — a session
//! forgotten by the server, every connection dropped at once, slow deliveries — on demand, so a
//! team can test its client's recovery in seconds instead of waiting hours. The admin API in
//! the org exposes these (with token invalidation and log expiry).

use std::time::Duration;

use super::{CloseReason, Engine};

impl Engine {
    /// The ids of the live sessions.
    pub fn session_ids(&self) -> Vec<String> {
        self.sessions.read().keys().cloned().collect()
    }

    /// Forgets a session now, as if it had expired: its next request gets
    /// `403::Unknown client` with advice to handshake. Returns whether it existed.
    pub fn expire_session(&self, client_id: &str) -> bool {
        self.remove_session(client_id, CloseReason::Expired)
    }

    /// Answers every held connect now and closes every WebSocket, as a load balancer or a
    /// restart would. Sessions survive: clients reconnect and carry on. Returns how many
    /// sessions had a connect held.
    pub fn drop_connections(&self) -> usize {
        let sessions: Vec<_> = self.sessions.read().values().cloned().collect();
        let held = sessions.iter().filter(|s| s.is_holding()).count();
        for session in &sessions {
            session.release_held();
        }
        self.drop_signal.send_modify(|n| *n += 1);
        held
    }

    /// A receiver that changes whenever [`Engine::drop_connections`] runs.
    pub fn drop_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.drop_signal.subscribe()
    }

    /// Delivers every event `delay` after it was stored (zero turns it off). Takes effect at
    /// once, for events already waiting too.
    pub fn set_delivery_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_signal.send_replace(ms);
    }

    /// The current delivery delay.
    pub fn delivery_delay(&self) -> Duration {
        Duration::from_millis(*self.delay_signal.borrow())
    }
}
