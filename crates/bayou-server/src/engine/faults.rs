//! Fault injection: the failures Salesforce streaming clients meet in production — a session
//! forgotten by the server, every connection dropped at once, slow deliveries — on demand, so a
//! team can test its client's recovery in seconds instead of waiting hours. The admin API in
//! the org exposes these (with token invalidation and log expiry).

use std::time::Duration;

use std::sync::atomic::Ordering;

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

    /// Ends a session from the server's side, as Salesforce's Hyperforce autoscaling does:
    /// a held connect is answered with a bare `/meta/disconnect` message before its
    /// `403::Unknown client` reply (sessions on API 64.0 and later, where Salesforce documents
    /// it), and the client must handshake again. Returns whether the session existed.
    pub fn server_disconnect(&self, client_id: &str) -> bool {
        self.remove_session(client_id, CloseReason::ServerDisconnect)
    }

    /// Refuses the next `count` handshakes with Salesforce's concurrent-client limit
    /// (`403::Handshake denied`, `failureReason` `403::Organization concurrent user limit
    /// exceeded`), whatever the real number of sessions.
    pub fn refuse_next_handshakes(&self, count: u64) {
        self.refuse_handshakes.store(count, Ordering::Relaxed);
    }

    /// Whether this handshake is one of those [`Engine::refuse_next_handshakes`] asked for.
    pub(super) fn handshake_refused_by_fault(&self) -> bool {
        self.refuse_handshakes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Reaches the daily delivery allocation named `name` now: the next delivery it covers
    /// ends its session with `403::Organization total events daily limit exceeded`. Returns
    /// whether there is such an allocation.
    pub fn use_up_allocation(&self, name: &str) -> bool {
        self.allocations.use_up(name)
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

    /// Changes whenever the delivery delay is set, so that a stream waiting for an event's
    /// due time can look again.
    pub fn delay_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.delay_signal.subscribe()
    }

    /// The current delivery delay.
    pub fn delivery_delay(&self) -> Duration {
        Duration::from_millis(*self.delay_signal.borrow())
    }
}
