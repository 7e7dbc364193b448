//! Which nodes are up, and how this one is doing: the figures `/healthz`, the operator view
//! and `/metrics` show for a cluster.
//!
//! Each node writes a heartbeat to the `nodes` bucket every [`HEARTBEAT`]; the bucket forgets a
//! key after 30 seconds, so a node that died disappears from the others' lists by itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use bayou_log::{NodeReport, NodeSeen};

use crate::connect::Connected;
use crate::log::JetStreamLog;
use crate::ClusterError;

const HEARTBEAT: Duration = Duration::from_secs(5);

/// A heartbeat as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Heartbeat {
    node: String,
    seen_ms: i64,
    head: u64,
}

/// The nodes whose heartbeat is current, by bucket key.
pub(crate) type NodesSeen = Arc<Mutex<BTreeMap<String, NodeSeen>>>;

/// This node's heartbeat, and its view of the others.
pub struct ClusterStatus {
    log: Arc<JetStreamLog>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterStatus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ClusterStatus {
    pub(crate) async fn start(
        connected: &Connected,
        node_id: &str,
        log: Arc<JetStreamLog>,
    ) -> Result<Arc<Self>, ClusterError> {
        let nodes = log.nodes_seen();
        let follow = tokio::spawn(crate::follow::follow_bucket(
            connected.nodes.clone(),
            Arc::clone(&connected.reconnects),
            move |entry| {
                let mut nodes = nodes.lock();
                match (
                    entry.operation,
                    serde_json::from_slice::<Heartbeat>(&entry.value),
                ) {
                    (kv::Operation::Put, Ok(beat)) => {
                        let seen = NodeSeen {
                            node_id: beat.node,
                            head: beat.head,
                            seen_ms: beat.seen_ms,
                        };
                        nodes.insert(entry.key, seen);
                    }
                    _ => {
                        nodes.remove(&entry.key);
                    }
                }
            },
            None,
        ));
        let key = crate::subjects::hex(node_id.as_bytes());
        let heartbeat = {
            let bucket = connected.nodes.clone();
            let node = node_id.to_owned();
            let log = Arc::downgrade(&log);
            tokio::spawn(async move {
                loop {
                    let Some(head) = log.upgrade().map(|l| bayou_log::EventLog::head(&*l)) else {
                        return;
                    };
                    let beat = Heartbeat {
                        node: node.clone(),
                        seen_ms: bayou_protocol::time::now_millis(),
                        head,
                    };
                    if let Ok(value) = serde_json::to_vec(&beat) {
                        if let Err(e) = bucket.put(&key, value.into()).await {
                            tracing::debug!("cannot write this node's heartbeat: {e}");
                        }
                    }
                    tokio::time::sleep(HEARTBEAT).await;
                }
            })
        };
        Ok(Arc::new(Self {
            log,
            tasks: vec![follow, heartbeat],
        }))
    }

    /// How the node is doing.
    pub fn report(&self) -> NodeReport {
        self.log.report()
    }
}
