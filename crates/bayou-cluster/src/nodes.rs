//! Which nodes are up, and how this one is doing: the figures `/healthz`, the operator view
//! and `/metrics` show for a cluster.
//!
//! Each node writes a heartbeat to the `nodes` bucket every [`HEARTBEAT`]; the bucket forgets a
//! key after 30 seconds, so a node that died disappears from the others' lists by itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::connect::Connected;
use crate::log::JetStreamLog;
use crate::ClusterError;

const HEARTBEAT: Duration = Duration::from_secs(5);

/// What a node says of itself in its heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeSeen {
    pub node: String,
    /// When the node last wrote its heartbeat, epoch ms.
    pub seen_ms: i64,
    /// Its tail position.
    pub head: u64,
}

/// This node's status in the cluster.
pub struct ClusterStatus {
    node_id: String,
    client: async_nats::Client,
    log: Arc<JetStreamLog>,
    replicas: usize,
    stream: String,
    nodes: Arc<Mutex<BTreeMap<String, NodeSeen>>>,
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
        let nodes: Arc<Mutex<BTreeMap<String, NodeSeen>>> = Arc::default();
        let mut watch = connected
            .nodes
            .watch_with_history(">")
            .await
            .map_err(|e| ClusterError::Nats(format!("cannot follow the nodes: {e}")))?;
        let follow = {
            let nodes = Arc::clone(&nodes);
            tokio::spawn(async move {
                while let Some(Ok(entry)) = watch.next().await {
                    let mut nodes = nodes.lock();
                    match (
                        entry.operation,
                        serde_json::from_slice::<NodeSeen>(&entry.value),
                    ) {
                        (kv::Operation::Put, Ok(seen)) => {
                            nodes.insert(entry.key, seen);
                        }
                        _ => {
                            nodes.remove(&entry.key);
                        }
                    }
                }
            })
        };
        let key: String = node_id.bytes().map(|b| format!("{b:02x}")).collect();
        let heartbeat = {
            let bucket = connected.nodes.clone();
            let node = node_id.to_owned();
            let log = Arc::downgrade(&log);
            tokio::spawn(async move {
                loop {
                    let Some(head) = log.upgrade().map(|l| bayou_log::EventLog::head(&*l)) else {
                        return;
                    };
                    let seen = NodeSeen {
                        node: node.clone(),
                        seen_ms: bayou_protocol::time::now_millis(),
                        head,
                    };
                    if let Ok(value) = serde_json::to_vec(&seen) {
                        if let Err(e) = bucket.put(&key, value.into()).await {
                            tracing::debug!("cannot write this node's heartbeat: {e}");
                        }
                    }
                    tokio::time::sleep(HEARTBEAT).await;
                }
            })
        };
        Ok(Arc::new(Self {
            node_id: node_id.to_owned(),
            client: connected.client.clone(),
            log,
            replicas: connected.replicas,
            stream: connected.names.log_stream(),
            nodes,
            tasks: vec![follow, heartbeat],
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether this node is connected to NATS now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// `connected`, `disconnected` or `pending`.
    pub fn connection_state(&self) -> &'static str {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => "connected",
            async_nats::connection::State::Disconnected => "disconnected",
            async_nats::connection::State::Pending => "pending",
        }
    }

    /// The NATS server this node talks to.
    pub fn server(&self) -> String {
        let info = self.client.server_info();
        format!(
            "{} {}:{} ({})",
            info.server_name, info.host, info.port, info.version
        )
    }

    /// How far this node's tail is behind the stream's last sequence, as last seen.
    pub fn lag(&self) -> u64 {
        self.log.lag()
    }

    pub fn replicas(&self) -> usize {
        self.replicas
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The nodes whose heartbeat is in the bucket (this one included), by id.
    pub fn nodes(&self) -> Vec<NodeSeen> {
        self.nodes.lock().values().cloned().collect()
    }
}
