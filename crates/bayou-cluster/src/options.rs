//! What a node needs to know to join a cluster: where NATS is, how to authenticate to it, and
//! how the org's streams are laid out.

use std::path::PathBuf;
use std::time::Duration;

use bayou_log::RetentionPolicy;

/// How to reach NATS and how to lay out this org's data in it.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// NATS server URLs (`nats://host:port`, `tls://host:port`); any one reachable is enough,
    /// the client learns the rest of the NATS cluster from it.
    pub servers: Vec<String>,
    /// A NATS credentials file (JWT and NKey seed), as `nsc` writes it.
    pub credentials_file: Option<PathBuf>,
    /// A NATS authentication token.
    pub token: Option<String>,
    /// A PEM file of the CA certificates NATS's TLS certificate is checked against.
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse to talk to NATS without TLS.
    pub tls_required: bool,
    /// Copies JetStream keeps of each stream and bucket; `None`: 3 when the NATS cluster has at
    /// least three servers, else 1.
    pub replicas: Option<usize>,
    /// Prefix of every stream, bucket and subject, so several orgs can share one NATS.
    pub prefix: String,
    /// This node's name, shown to operators and to the other nodes.
    pub node_id: String,
    /// How long events are kept, by channel pattern.
    pub retention: RetentionPolicy,
    /// Access tokens expire after this long without use.
    pub token_idle_timeout: Duration,
    /// How long a call to NATS may take before it counts as failed.
    pub request_timeout: Duration,
}

impl ClusterOptions {
    /// Options for `servers` with every other setting at its default.
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            servers,
            credentials_file: None,
            token: None,
            tls_ca_file: None,
            tls_required: false,
            replicas: None,
            prefix: "bayou".to_owned(),
            node_id: default_node_id(),
            retention: RetentionPolicy::default(),
            token_idle_timeout: Duration::from_secs(2 * 3_600),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// `<host name>-<process id>`: unique among the nodes of one machine and readable.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}-{}", std::process::id())
}
