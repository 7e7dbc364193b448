//! Who is subscribed to a channel across a cluster: this node's sessions, from the
//! subscription index, and the other nodes', through [`RemotePresence`] (see its module for
//! why). Without a cluster, this node's sessions are all of them.

use std::collections::HashMap;
use std::sync::Arc;

use bayou_log::RemotePresence;

use super::Engine;

impl Engine {
    /// Counts the other nodes' sessions too, from now on (a cluster node, at start; a second
    /// call is ignored).
    pub fn set_remote_presence(&self, remote: Arc<dyn RemotePresence>) {
        let _ = self.remote_presence.set(remote);
    }

    /// The sessions subscribed to `channel`, per user, on this node and on every other node
    /// that answers in time.
    pub async fn subscribed_sessions_everywhere(&self, channel: &str) -> HashMap<String, usize> {
        let mut users = self.subscribed_sessions_by_user(channel);
        if let Some(remote) = self.remote_presence.get() {
            match remote.sessions_by_user(channel).await {
                Ok(others) => {
                    for (user, sessions) in others {
                        *users.entry(user).or_default() += sessions;
                    }
                }
                Err(e) => tracing::warn!(channel, "cannot ask the other nodes who is online: {e}"),
            }
        }
        users
    }
}
