//! Where each (re)subscription starts. This is the heart of "no gaps, no duplicates": every
//! subscribe, at start or after any recovery, carries the position of its own channel.

use serde_json::{json, Value};

use crate::event_loop::{EventLoop, Pending, SubState};

impl EventLoop {
    /// Subscribe messages for every wanted subscription, each with its replay position.
    pub(crate) async fn subscribe_batch(&mut self) -> Vec<(Value, Pending)> {
        let wanted: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, s)| s.state == SubState::Wanted)
            .map(|(c, _)| c.clone())
            .collect();
        let mut batch = Vec::new();
        for channel in wanted {
            let replay_id = self.replay_position(&channel).await;
            if let Some(sub) = self.subs.get_mut(&channel) {
                sub.state = SubState::Requested;
            }
            let mut message = json!({"channel": "/meta/subscribe", "subscription": channel});
            if let Some(id) = replay_id {
                message["ext"] = json!({"replay": {channel.clone(): id}});
            }
            batch.push((message, Pending::Subscribe { channel, replay_id }));
        }
        batch
    }

    /// Where a (re)subscription starts: after a gap, the policy's choice; then the last event
    /// handed to the application in this process; then the store; then the default.
    async fn replay_position(&mut self, channel: &str) -> Option<i64> {
        if !self.server_replay {
            return None;
        }
        let (resume, from) = match self.subs.get_mut(channel) {
            Some(sub) => (sub.resume.take(), sub.from),
            None => return None,
        };
        if let Some(id) = resume {
            return Some(id);
        }
        if let Some(id) = self.delivered.get(channel) {
            return Some(*id);
        }
        match self.config.replay_store.get(channel).await {
            Ok(Some(id)) => Some(id),
            Ok(None) => Some(from.as_replay_id()),
            Err(error) => {
                tracing::error!(%error, channel, "replay store unreadable; using the default");
                Some(from.as_replay_id())
            }
        }
    }
}
