//! The two backends behind one type, and the macro that runs a test against each.

use std::time::Duration;

use bayou_cluster::{Cluster, ClusterOptions};
use bayou_log::{EmbeddedOptions, NewEvent, Storage};
use bayou_testkit::NatsServer;
use bytes::Bytes;

/// Where the storage under test lives.
pub enum Backend {
    Embedded(tempfile::TempDir),
    JetStream(NatsServer, String),
}

/// One node's storage (the cluster's, when on JetStream).
pub struct Node {
    pub storage: Storage,
    /// Keeps the node's tasks running (dropping it stops them).
    pub _cluster: Option<Cluster>,
}

pub const IDLE: Duration = Duration::from_secs(3_600);

impl Backend {
    pub fn embedded() -> Self {
        Self::Embedded(tempfile::tempdir().unwrap())
    }

    /// `None` when no nats-server is installed (the test says it skipped).
    pub fn jetstream(test: &str) -> Option<Self> {
        let server = NatsServer::start(test)?;
        Some(Self::JetStream(server, "conformance".into()))
    }

    pub async fn node(&self) -> Node {
        self.node_with(IDLE).await
    }

    /// A node whose access tokens expire after `idle`. On the embedded backend there is one
    /// node per backend: it owns the directory.
    pub async fn node_with(&self, idle: Duration) -> Node {
        match self {
            Backend::Embedded(dir) => Node {
                storage: Storage::embedded(dir.path(), EmbeddedOptions::default(), idle).unwrap(),
                _cluster: None,
            },
            Backend::JetStream(server, prefix) => {
                let mut options = ClusterOptions::new(vec![server.url.clone()]);
                options.prefix = prefix.clone();
                options.token_idle_timeout = idle;
                options.node_id = format!("node-{}", rand_suffix());
                let cluster = bayou_cluster::join(&options).await.unwrap();
                Node {
                    storage: cluster.storage.clone(),
                    _cluster: Some(cluster),
                }
            }
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An event whose bytes say its replay id, creation time and `tag`.
pub fn event(channel: &str, tag: &str) -> NewEvent {
    let tag = tag.to_owned();
    NewEvent::new(
        channel,
        Box::new(move |id, ms| {
            Bytes::from(format!("{{\"id\":{id},\"ms\":{ms},\"tag\":\"{tag}\"}}"))
        }),
    )
}

/// The `tag` written by [`event`].
pub fn tag_of(bytes: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    value["tag"].as_str().unwrap().to_owned()
}

/// The replay id written into an event's bytes by [`event`].
pub fn id_in(bytes: &[u8]) -> u64 {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    value["id"].as_u64().unwrap()
}

/// Runs `$test(backend)` once on the embedded backend and once on JetStream.
#[macro_export]
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$test($crate::backend::Backend::embedded()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn jetstream() {
                    if let Some(backend) = $crate::backend::Backend::jetstream(stringify!($test)) {
                        super::$test(backend).await;
                    }
                }
            }
        )*
    };
}
