//! Daily allocation counters across nodes. Taking from a counter happens once per delivery, so
//! it is answered from memory: each node counts its own uses (a
//! [`MemoryCounters`](bayou_log::embedded::MemoryCounters)) and shares its hourly totals in a
//! KV bucket every [`SHARE_EVERY`], under a key of its own; the uses of the other nodes are
//! what their keys last said. Nodes may together overshoot a limit by what they count between
//! two shares — Salesforce's own allocation counts are approximate in the same way.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream::kv;
use bayou_log::embedded::{current_hour, used_within_day, MemoryCounters};
use bayou_log::UsageCounters;
use parking_lot::Mutex;

const SHARE_EVERY: Duration = Duration::from_secs(2);

/// Counter name (hex) → node (hex) → that node's `(hour, uses)`.
type Elsewhere = HashMap<String, HashMap<String, Vec<(u64, u64)>>>;

/// [`UsageCounters`] shared through a KV bucket.
pub struct ClusterCounters {
    here: Arc<MemoryCounters>,
    node_key: String,
    elsewhere: Arc<Mutex<Elsewhere>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterCounters {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn hex(text: &str) -> String {
    crate::subjects::hex(text.as_bytes())
}

impl ClusterCounters {
    pub(crate) async fn open(
        bucket: kv::Store,
        node_id: &str,
        reconnects: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Result<Self, crate::ClusterError> {
        let node_key = hex(node_id);
        let elsewhere: Arc<Mutex<Elsewhere>> = Arc::default();
        let follow = {
            let elsewhere = Arc::clone(&elsewhere);
            let own = node_key.clone();
            tokio::spawn(crate::follow::follow_bucket(
                bucket.clone(),
                reconnects,
                move |entry| {
                    let Some((name, node)) = entry.key.split_once('.') else {
                        return;
                    };
                    if node == own {
                        return;
                    }
                    let mut elsewhere = elsewhere.lock();
                    let nodes = elsewhere.entry(name.to_owned()).or_default();
                    match (entry.operation, serde_json::from_slice(&entry.value)) {
                        (kv::Operation::Put, Ok(hours)) => {
                            nodes.insert(node.to_owned(), hours);
                        }
                        _ => {
                            nodes.remove(node);
                        }
                    }
                },
                None,
            ))
        };
        let here = Arc::new(MemoryCounters::default());
        let share = tokio::spawn(share(bucket, Arc::downgrade(&here), node_key.clone()));
        Ok(Self {
            here,
            node_key,
            elsewhere,
            tasks: vec![follow, share],
        })
    }

    fn elsewhere(&self, name: &str, hour: u64) -> u64 {
        self.elsewhere.lock().get(&hex(name)).map_or(0, |nodes| {
            nodes
                .values()
                .map(|hours| used_within_day(hours, hour))
                .sum()
        })
    }
}

/// Writes this node's hourly totals whenever they changed.
async fn share(bucket: kv::Store, here: Weak<MemoryCounters>, node_key: String) {
    let mut shared: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    loop {
        tokio::time::sleep(SHARE_EVERY).await;
        let Some(here) = here.upgrade() else { return };
        for (name, hours) in here.hourly() {
            if shared.get(&name) == Some(&hours) {
                continue;
            }
            let key = format!("{}.{node_key}", hex(&name));
            let Ok(value) = serde_json::to_vec(&hours) else {
                continue;
            };
            match bucket.put(&key, value.into()).await {
                Ok(_) => {
                    shared.insert(name, hours);
                }
                Err(e) => tracing::debug!("cannot share usage counters: {e}"),
            }
        }
    }
}

impl UsageCounters for ClusterCounters {
    fn try_take(&self, name: &str, limit: u64) -> bool {
        let hour = current_hour();
        let elsewhere = self.elsewhere(name, hour);
        self.here.try_take_beside(name, limit, elsewhere, hour)
    }

    fn used(&self, name: &str) -> u64 {
        let hour = current_hour();
        self.here.used_here(name, hour) + self.elsewhere(name, hour)
    }

    fn use_up(&self, name: &str, limit: u64) {
        let hour = current_hour();
        let elsewhere = self.elsewhere(name, hour);
        self.here.use_up_beside(name, limit, elsewhere, hour);
    }
}

impl std::fmt::Debug for ClusterCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCounters")
            .field("node", &self.node_key)
            .finish_non_exhaustive()
    }
}
