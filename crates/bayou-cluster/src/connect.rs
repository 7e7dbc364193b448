//! Joining the cluster: connect to NATS, check that it can do what Bayou needs, and create or
//! check the org's stream and buckets — refusing to start, with one line saying why, when NATS
//! is unreachable, JetStream is off, or the server is too old.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use async_nats::jetstream::{self, kv, stream};

use crate::options::ClusterOptions;
use crate::subjects::Names;
use crate::ClusterError;

/// The oldest NATS server Bayou runs on: 2.12 brought atomic batch publish (a record change and
/// its events in one write); per-message TTL (retention by channel kind) came in 2.11.
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 12);

/// A connection, checked, with the org's stream and buckets in place.
pub struct Connected {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub names: Names,
    pub log: stream::Stream,
    pub tokens: kv::Store,
    pub positions: kv::Store,
    pub counters: kv::Store,
    pub nodes: kv::Store,
    pub replicas: usize,
    /// Counts the connections made to NATS (the first included): what follows the stream or a
    /// bucket starts again when it changes, instead of waiting to notice a server restart.
    pub reconnects: Arc<watch::Sender<u64>>,
}

/// Connects and prepares the org's stream and buckets.
pub async fn connect(options: &ClusterOptions) -> Result<Connected, ClusterError> {
    let names = Names::new(&options.prefix).map_err(|e| ClusterError::Config(e.to_string()))?;
    if options.servers.is_empty() {
        return Err(ClusterError::Config("no NATS server URL given".into()));
    }
    let reconnects = Arc::new(watch::Sender::new(0_u64));
    let on_event = Arc::clone(&reconnects);
    let node = options.node_id.clone();
    let mut connect = async_nats::ConnectOptions::new()
        .event_callback(move |event| {
            let (on_event, node) = (Arc::clone(&on_event), node.clone());
            async move {
                match event {
                    async_nats::Event::Connected => {
                        on_event.send_modify(|n| *n += 1);
                        tracing::info!(node = %node, "connected to NATS");
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(node = %node, "disconnected from NATS, reconnecting");
                    }
                    other => tracing::debug!(node = %node, "NATS: {other}"),
                }
            }
        })
        .name(format!("bayou {}", options.node_id))
        .connection_timeout(options.request_timeout)
        .request_timeout(Some(options.request_timeout))
        // A node never gives up on NATS: it keeps trying and its clients get errors meanwhile.
        .max_reconnects(None)
        .require_tls(options.tls_required);
    if let Some(path) = &options.credentials_file {
        connect = connect.credentials_file(path).await.map_err(|e| {
            ClusterError::Config(format!(
                "cannot read the NATS credentials file {}: {e}",
                path.display()
            ))
        })?;
    }
    if let Some(token) = &options.token {
        connect = connect.token(token.clone());
    }
    if let Some(ca) = &options.tls_ca_file {
        connect = connect.add_root_certificates(ca.clone());
    }
    let urls = options.servers.join(",");
    let client = connect
        .connect(options.servers.as_slice())
        .await
        .map_err(|e| ClusterError::Unreachable(format!("{urls}: {e}")))?;
    let info = client.server_info();
    check_version(&info.version)?;
    let jetstream = jetstream::ContextBuilder::new()
        .timeout(options.request_timeout)
        .build(client.clone());
    if !info.jetstream {
        return Err(ClusterError::JetStreamOff(format!(
            "{} ({})",
            info.server_name, info.version
        )));
    }
    wait_for_jetstream(&jetstream, &info).await?;
    let wanted = options
        .replicas
        .unwrap_or_else(|| default_replicas(&client.server_info(), &options.servers));
    // A stream that exists keeps the replicas it was made with; the node reports those.
    let (log, replicas) = ensure_log_stream(&jetstream, &names, wanted).await?;
    if options.replicas.is_some_and(|asked| asked != replicas) {
        tracing::warn!(
            stream = %names.log_stream(),
            kept = replicas,
            asked = wanted,
            "the stream exists with another number of replicas and keeps its own (`nats stream edit` changes it)"
        );
    }
    let bucket = |what: &str, history: i64| kv::Config {
        bucket: names.bucket(what),
        history,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    let tokens = ensure_bucket(&jetstream, bucket("tokens", 1)).await?;
    let positions = ensure_bucket(&jetstream, bucket("positions", 1)).await?;
    let counters = ensure_bucket(&jetstream, bucket("counters", 1)).await?;
    let mut nodes_config = bucket("nodes", 1);
    // A node that stops announcing itself is forgotten.
    nodes_config.max_age = Duration::from_secs(30);
    let nodes = ensure_bucket(&jetstream, nodes_config).await?;
    tracing::info!(
        server = %info.server_name,
        version = %info.version,
        replicas,
        stream = %names.log_stream(),
        "connected to NATS JetStream"
    );
    Ok(Connected {
        client,
        jetstream,
        names,
        log,
        tokens,
        positions,
        counters,
        nodes,
        replicas,
        reconnects,
    })
}

/// Three copies when the NATS cluster has three servers or more, else one. The servers are
/// counted both from the URLs the node was given and from the cluster's own list in the
/// server's latest INFO: a cluster whose routes are still forming when the node starts lists
/// fewer servers than it has, and choosing one copy then would leave the log unreplicated for
/// good (the stream keeps the replicas it was created with).
fn default_replicas(info: &async_nats::ServerInfo, given: &[String]) -> usize {
    if info.cluster.is_none() {
        return 1;
    }
    let given: std::collections::HashSet<&str> = given.iter().map(String::as_str).collect();
    let servers = info.connect_urls.len().max(given.len());
    if servers >= 3 {
        3
    } else {
        1
    }
}

/// How long a node waits for a NATS cluster that is still electing its JetStream leaders (a
/// cluster started together with Bayou, say).
const JETSTREAM_READY_WITHIN: Duration = Duration::from_secs(30);

/// Waits until JetStream answers for this account.
async fn wait_for_jetstream(
    jetstream: &jetstream::Context,
    info: &async_nats::ServerInfo,
) -> Result<(), ClusterError> {
    let deadline = tokio::time::Instant::now() + JETSTREAM_READY_WITHIN;
    let mut said = false;
    loop {
        match jetstream.query_account().await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() < deadline => {
                if !said {
                    tracing::info!(
                        "waiting for JetStream on {} to be ready: {e}",
                        info.server_name
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(ClusterError::JetStreamOff(format!(
                    "{} ({}): not ready within {JETSTREAM_READY_WITHIN:?}: {e}",
                    info.server_name, info.version
                )))
            }
        }
    }
}

fn check_version(version: &str) -> Result<(), ClusterError> {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    let found = (
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    );
    if found < MIN_SERVER_VERSION {
        return Err(ClusterError::TooOld(format!(
            "NATS server {version} is too old: Bayou needs {}.{} or newer (atomic batch publish)",
            MIN_SERVER_VERSION.0, MIN_SERVER_VERSION.1
        )));
    }
    Ok(())
}

/// The stream of events and record writes. No age limit on the stream: events carry their own
/// TTL (by retention rule), records none.
fn log_stream_config(names: &Names, replicas: usize) -> stream::Config {
    stream::Config {
        name: names.log_stream(),
        description: Some("Bayou: events (replay id = sequence) and the org's records".into()),
        subjects: names.log_subjects(),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_atomic_publish: true,
        allow_message_ttl: true,
        allow_direct: true,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

async fn ensure_log_stream(
    jetstream: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> Result<(stream::Stream, usize), ClusterError> {
    let wanted = log_stream_config(names, replicas);
    match jetstream.get_stream(&wanted.name).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| ClusterError::Nats(format!("stream {}: {e}", wanted.name)))?;
            let config = &info.config;
            if !config.allow_atomic_publish || !config.allow_message_ttl {
                return Err(ClusterError::Config(format!(
                    "the stream {} exists without atomic publish or message TTL: it was not made by Bayou",
                    wanted.name
                )));
            }
            let kept = config.num_replicas;
            Ok((existing, kept))
        }
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(_)
            ) =>
        {
            let created = while_peers_join(&format!("stream {}", wanted.name), || {
                jetstream.create_stream(wanted.clone())
            })
            .await?;
            Ok((created, replicas))
        }
        Err(e) => Err(ClusterError::Nats(format!("stream {}: {e}", wanted.name))),
    }
}

async fn ensure_bucket(
    jetstream: &jetstream::Context,
    config: kv::Config,
) -> Result<kv::Store, ClusterError> {
    let name = config.bucket.clone();
    match jetstream.get_key_value(&name).await {
        Ok(store) => Ok(store),
        Err(_) => {
            while_peers_join(&format!("bucket {name}"), || {
                jetstream.create_key_value(config.clone())
            })
            .await
        }
    }
}

/// Runs `create` again while JetStream answers that too few servers are online for the
/// replicas asked (`no suitable peers for placement`: a NATS cluster whose servers are still
/// joining, its meta leader already elected), for at most [`JETSTREAM_READY_WITHIN`].
async fn while_peers_join<T, E, F, Fut>(what: &str, mut create: F) -> Result<T, ClusterError>
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + JETSTREAM_READY_WITHIN;
    loop {
        match create().await {
            Ok(created) => return Ok(created),
            Err(e) if no_peers_yet(&e) && tokio::time::Instant::now() < deadline => {
                tracing::info!("waiting for the NATS servers to join before creating {what}: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(ClusterError::Nats(format!("cannot create {what}: {e}"))),
        }
    }
}

/// Whether `error` (or what caused it) is JetStream's "no suitable peers for placement"
/// (error code 10005). async-nats keeps a stream creation's JetStream error in the error's
/// kind, not as its source, so the code is read from each error's text as well.
fn no_peers_yet(error: &(dyn std::error::Error + 'static)) -> bool {
    let code = async_nats::jetstream::ErrorCode::CLUSTER_NO_PEERS;
    let mut current = Some(error);
    while let Some(e) = current {
        let typed = e
            .downcast_ref::<async_nats::jetstream::Error>()
            .is_some_and(|jetstream| jetstream.error_code() == code);
        if typed || e.to_string().contains("error code 10005") {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_copies_when_the_urls_or_the_cluster_name_three_servers() {
        let urls = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("nats://127.0.0.1:{}", 4222 + i))
                .collect()
        };
        let clustered = |connect_urls: usize| async_nats::ServerInfo {
            cluster: Some("c".into()),
            connect_urls: urls(connect_urls),
            ..Default::default()
        };
        // Routes still forming: the server lists itself only, the node was given three URLs.
        assert_eq!(default_replicas(&clustered(1), &urls(3)), 3);
        // One URL given, the cluster lists three servers.
        assert_eq!(default_replicas(&clustered(3), &urls(1)), 3);
        // The same URL given three times is one server.
        let same = vec!["nats://127.0.0.1:4222".to_string(); 3];
        assert_eq!(default_replicas(&clustered(2), &same), 1);
        // A server outside any cluster keeps one copy whatever it was given.
        let alone = async_nats::ServerInfo::default();
        assert_eq!(default_replicas(&alone, &urls(3)), 1);
    }

    #[test]
    fn versions_are_compared_numerically() {
        assert!(check_version("2.15.1").is_ok());
        assert!(check_version("v2.12.0-beta").is_ok());
        assert!(check_version("3.0.0").is_ok());
        let old = check_version("2.9.25").unwrap_err().to_string();
        assert!(old.contains("2.9.25 is too old"), "{old}");
        assert!(check_version("2.11.4").is_err());
    }

    /// An error as async-nats words them, optionally caused by another.
    #[derive(Debug)]
    struct Failed(&'static str, Option<Box<Failed>>);

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn only_missing_peers_are_waited_out() {
        let placement = "jetstream error: no suitable peers for placement, peer offline (code 400, error code 10005)";
        assert!(no_peers_yet(&Failed(placement, None)));
        let bucket = Failed(
            "failed to create the bucket",
            Some(Box::new(Failed(placement, None))),
        );
        assert!(no_peers_yet(&bucket));
        let other = "jetstream error: insufficient resources (code 503, error code 10023)";
        assert!(!no_peers_yet(&Failed(other, None)));
    }

    #[tokio::test(start_paused = true)]
    async fn creation_is_retried_while_peers_join_and_not_otherwise() {
        let mut attempts = 0;
        let created = while_peers_join("stream x", || {
            attempts += 1;
            let outcome = if attempts < 3 {
                Err(Failed(
                    "no suitable peers for placement (error code 10005)",
                    None,
                ))
            } else {
                Ok(attempts)
            };
            std::future::ready(outcome)
        })
        .await;
        assert_eq!(created.unwrap(), 3);
        let mut calls = 0;
        let refused: Result<(), _> = while_peers_join("stream y", || {
            calls += 1;
            std::future::ready(Err(Failed("bad request (error code 10003)", None)))
        })
        .await;
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("cannot create stream y"));
        assert_eq!(calls, 1);
    }
}
