//! Who is subscribed to a channel on the other nodes: a question published on the org's
//! presence subject, answered by every node from its own sessions (plain NATS, nothing stored).
//!
//! The asking node waits for as many answers as there are other nodes with a current heartbeat,
//! at most [`WAIT`]: a node that is slow or just died counts for nothing rather than holding up
//! the REST request (what is reported is who is online, never whether an event is delivered).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bayou_log::{LogError, RemotePresence, StoreFuture};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::connect::Connected;
use crate::nodes::NodesSeen;
use crate::ClusterError;

/// The longest a node waits for the others' answers.
const WAIT: Duration = Duration::from_millis(500);

/// This node's sessions subscribed to a channel, per user: what it answers with.
pub type LocalPresence = Arc<dyn Fn(&str) -> HashMap<String, usize> + Send + Sync>;

#[derive(Serialize, Deserialize)]
struct Question {
    /// The asking node, which does not answer itself.
    from: String,
    channel: String,
}

/// Asks the other nodes, and answers them once [`ClusterPresence::answer_with`] is called.
pub struct ClusterPresence {
    client: async_nats::Client,
    subject: String,
    node_id: String,
    nodes: NodesSeen,
    answering: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for ClusterPresence {
    fn drop(&mut self) {
        if let Some(task) = self.answering.lock().take() {
            task.abort();
        }
    }
}

impl ClusterPresence {
    pub(crate) fn new(connected: &Connected, node_id: &str, nodes: NodesSeen) -> Arc<Self> {
        Arc::new(Self {
            client: connected.client.clone(),
            subject: connected.names.presence(),
            node_id: node_id.to_owned(),
            nodes,
            answering: Mutex::new(None),
        })
    }

    /// Answers the other nodes' questions from `local` (this node's engine) from now on.
    pub async fn answer_with(&self, local: LocalPresence) -> Result<(), ClusterError> {
        let mut questions = self
            .client
            .subscribe(self.subject.clone())
            .await
            .map_err(|e| ClusterError::Nats(format!("presence subscription: {e}")))?;
        let client = self.client.clone();
        let node_id = self.node_id.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = questions.next().await {
                let (Some(reply), Ok(question)) = (
                    message.reply,
                    serde_json::from_slice::<Question>(&message.payload),
                ) else {
                    continue;
                };
                if question.from == node_id {
                    continue;
                }
                let answer = serde_json::to_vec(&local(&question.channel)).unwrap_or_default();
                if let Err(e) = client.publish(reply, answer.into()).await {
                    tracing::debug!("cannot answer a presence question: {e}");
                }
            }
        });
        if let Some(previous) = self.answering.lock().replace(task) {
            previous.abort();
        }
        Ok(())
    }

    /// How many other nodes have a current heartbeat.
    fn others(&self) -> usize {
        self.nodes
            .lock()
            .values()
            .filter(|node| node.node_id != self.node_id)
            .count()
    }

    async fn ask(&self, channel: &str) -> Result<HashMap<String, usize>, String> {
        let mut total = HashMap::new();
        let expected = self.others();
        if expected == 0 {
            return Ok(total);
        }
        let inbox = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| e.to_string())?;
        let question = Question {
            from: self.node_id.clone(),
            channel: channel.to_owned(),
        };
        let payload = serde_json::to_vec(&question).map_err(|e| e.to_string())?;
        self.client
            .publish_with_reply(self.subject.clone(), inbox, payload.into())
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut answered = 0;
        while answered < expected {
            let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await else {
                break;
            };
            answered += 1;
            match serde_json::from_slice::<HashMap<String, usize>>(&answer.payload) {
                Ok(sessions) => {
                    for (user, count) in sessions {
                        *total.entry(user).or_default() += count;
                    }
                }
                Err(e) => tracing::debug!("unreadable presence answer: {e}"),
            }
        }
        if answered < expected {
            tracing::debug!(
                channel,
                answered,
                expected,
                "not every node said who is online in time"
            );
        }
        Ok(total)
    }
}

impl RemotePresence for ClusterPresence {
    fn sessions_by_user<'a>(&'a self, channel: &'a str) -> StoreFuture<'a, HashMap<String, usize>> {
        Box::pin(async move { self.ask(channel).await.map_err(LogError::Storage) })
    }
}
