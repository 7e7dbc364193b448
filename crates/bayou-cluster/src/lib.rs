//! Bayou as a cluster: several nodes share one org through NATS JetStream, and each serves any
//! client.
//!
//! Everything the org keeps goes to JetStream, behind the same traits the embedded backend
//! implements ([`bayou_log::Storage`]), so neither the engine nor the org knows which one runs:
//!
//! - the event log and the org's records: one stream, written in atomic batches ([`log`]);
//! - tokens: a KV bucket with a copy in every node's memory ([`tokens`]);
//! - daily allocation counters: each node's own, shared through a KV bucket ([`counters`]);
//! - committed replay positions: a KV bucket ([`positions`]);
//! - which nodes are up: a KV bucket each node writes its heartbeat to ([`nodes`]).
//!
//! Sessions stay on the node that made them, as on Salesforce: a client that reaches another
//! node handshakes again there and resumes by replay id. Replication, consensus and membership
//! are JetStream's; Bayou adds none of its own.

#![forbid(unsafe_code)]

mod connect;
mod counters;
mod follow;
mod last_sequence;
pub mod log;
mod nodes;
mod options;
mod positions;
mod presence;
pub mod subjects;
mod tokens;

use std::sync::Arc;

use bayou_log::Storage;

pub use connect::MIN_SERVER_VERSION;
pub use counters::ClusterCounters;
pub use log::JetStreamLog;
pub use nodes::ClusterStatus;
pub use options::{default_node_id, ClusterOptions};
pub use positions::ClusterPositions;
pub use presence::{ClusterPresence, LocalPresence};
pub use tokens::ClusterTokens;

/// Why a node could not join the cluster.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {0}")]
    Unreachable(String),
    #[error("JetStream is not available on NATS server {0} (start nats-server with -js)")]
    JetStreamOff(String),
    #[error("{0}")]
    TooOld(String),
    #[error("cluster configuration: {0}")]
    Config(String),
    #[error("NATS: {0}")]
    Nats(String),
}

/// A node's view of the cluster: its storage, its status, and who is subscribed on the other
/// nodes.
pub struct Cluster {
    pub storage: Storage,
    pub status: Arc<ClusterStatus>,
    pub presence: Arc<ClusterPresence>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.status.report().node_id)
            .finish_non_exhaustive()
    }
}

/// Joins the cluster: connects, checks NATS, creates or checks the streams and buckets, loads
/// the records and tokens, and starts following the log.
pub async fn join(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
    for rule in options.retention.rules() {
        if rule.max_bytes.is_some() {
            return Err(ClusterError::Config(format!(
                "retention by size ({}) is not available with --cluster: JetStream limits the \
                 bytes of a whole stream, not of a channel pattern",
                rule.pattern
            )));
        }
    }
    let connected = connect::connect(options).await?;
    let log = Arc::new(
        JetStreamLog::open(&connected, &options.node_id, options.retention.clone()).await?,
    );
    let tokens = Arc::new(
        ClusterTokens::open(
            connected.tokens.clone(),
            options.token_idle_timeout,
            Arc::clone(&connected.reconnects),
        )
        .await?,
    );
    let counters = Arc::new(
        ClusterCounters::open(
            connected.counters.clone(),
            &options.node_id,
            Arc::clone(&connected.reconnects),
        )
        .await?,
    );
    let positions = Arc::new(ClusterPositions::new(connected.positions.clone()));
    let status = ClusterStatus::start(&connected, &options.node_id, Arc::clone(&log)).await?;
    let presence = ClusterPresence::new(&connected, &options.node_id, log.nodes_seen());
    Ok(Cluster {
        storage: Storage {
            log,
            tokens,
            counters,
            positions,
        },
        status,
        presence,
    })
}
