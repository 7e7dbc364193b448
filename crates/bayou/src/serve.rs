//! `bayou serve`: build the server from settings, listen, and stop gracefully on SIGINT or
//! SIGTERM (held connects are answered, WebSocket clients get a close frame).

use std::sync::Arc;

use parking_lot::Mutex;

use anyhow::Context;
use axum::response::IntoResponse;
use axum::routing::get;
use bayou_log::Storage;
use bayou_org::Org;
use bayou_server::Server;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::http_policy;
use crate::logging;
use crate::settings::{PubSubSettings, Settings};
use crate::web;
use bayou_org::overview::{Overview, ScrapeState};

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Everything the server creates — the event log's files, fjall's lock and journals, the
    // org's files, a generated certificate — is its user's alone: the data directory holds
    // password hashes, tokens' records and every event.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let settings = Settings::resolve(args)?;
    logging::init(settings.log_format, &settings.log_filter)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Listen for signals before announcing readiness, so a stop request sent the moment the
    // server says it is listening is a graceful stop, not the default "terminate".
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    bayou_org::identity::create_private_dir(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let (storage, cluster_node) = match &settings.cluster {
        None => {
            let log_dir = settings.data_dir.join("log");
            let storage = Storage::embedded(
                &log_dir,
                settings.event_log.clone(),
                settings.org.session_timeout,
            )
            .with_context(|| format!("cannot open the event log in {}", log_dir.display()))?;
            (storage, None)
        }
        Some(options) => {
            let cluster = bayou_cluster::join(options)
                .await
                .context("cannot join the cluster")?;
            let node = cluster.status.report();
            tracing::info!(
                node = %node.node_id,
                stream = %node.stream,
                replicas = node.replicas,
                "running as a node of a cluster"
            );
            (cluster.storage.clone(), Some(cluster))
        }
    };
    let (org, created) = Org::open(
        &settings.data_dir,
        &settings.credentials,
        settings.org.clone(),
        &storage,
    )
    .await
    .context("cannot open the org")?;
    if let Some(credentials) = created {
        // Shown once; also kept in <data-dir>/credentials.txt (readable by this user only).
        eprintln!(
            "\nA new dev org was created. Log in with:\n\n{}\n(also saved in {})\n",
            credentials.describe(),
            settings.data_dir.join("credentials.txt").display()
        );
    }
    // The delivery latency histogram uses the engine's bucket bounds (see overview.rs).
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(bayou_server::metrics::DELIVERY_LATENCY.to_owned()),
            &bayou_server::metrics::delivery_latency_buckets(),
        )
        .context("cannot configure the latency histogram")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;

    let server = Server::new(
        settings.engine.clone(),
        org.clone(),
        storage.log.clone(),
        storage.counters.clone(),
    );
    let engine = Arc::clone(server.engine());
    let engine_for_pubsub = Arc::clone(server.engine());
    if let Some(cluster) = &cluster_node {
        // Generic streaming's push resource counts the sessions of every node: this node
        // answers the others from its engine, and asks them.
        let local = Arc::downgrade(server.engine());
        cluster
            .presence
            .answer_with(Arc::new(move |channel: &str| {
                local
                    .upgrade()
                    .map(|engine| engine.subscribed_sessions_by_user(channel))
                    .unwrap_or_default()
            }))
            .await
            .context("cannot answer the other nodes' presence questions")?;
        engine.set_remote_presence(cluster.presence.clone());
    }
    let admin = bayou_org::admin::router(
        org.clone(),
        Arc::clone(server.engine()),
        settings.admin_token.clone(),
    );
    let admin_enabled = settings
        .admin_token
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    let dashboard = web::router(org.clone(), admin_enabled);
    let metrics_org = org.clone();
    let metrics_token = settings.metrics_token.clone();
    let scrape = Arc::new(Mutex::new(ScrapeState::default()));
    // Body limits, timeouts and security headers per kind of route: see http_policy.rs.
    let router = server
        .router()
        .merge(http_policy::api(org.router(server.engine()).merge(admin)))
        .merge(http_policy::dashboard(dashboard))
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                if let Some(token) = &metrics_token {
                    if !bayou_org::admin::bearer_matches(&headers, token) {
                        let refused = (
                            axum::http::StatusCode::UNAUTHORIZED,
                            "metrics token required",
                        );
                        return std::future::ready(refused.into_response());
                    }
                }
                bayou_server::metrics::record_log_stats(&engine.log().stats());
                if let Some(node) = engine.log().node_report() {
                    bayou_server::metrics::record_node_report(&node);
                }
                // The operator overview's figures go through the recorder too, so one
                // rendering has everything.
                let mut scrape = scrape.lock();
                Overview::collect(&metrics_org, &engine).record_metrics(&mut scrape);
                drop(scrape);
                std::future::ready(prometheus.render().into_response())
            }),
        );
    let router = http_policy::everywhere(router);

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    // Bound (and its certificate read or made) before anything is announced: a server that
    // cannot serve the Pub/Sub API it was asked for does not start at all.
    let pubsub = match &settings.pubsub {
        Some(pubsub) => Some(PubSubListener::bind(pubsub, &settings.data_dir).await?),
        None => None,
    };
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let transports: Vec<&str> = settings
        .engine
        .transports
        .iter()
        .map(|t| t.name())
        .collect();
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        durability = ?settings.event_log.durability,
        transports = %transports.join(","),
        "Bayou listening on http://{local} (Bayeux endpoint http://{local}/cometd/66.0)"
    );
    // A plain line on stdout for scripts and tests that start Bayou on port 0.
    announce(&format!("listening on http://{local}"));

    let pubsub =
        pubsub.map(|listener| listener.start(&org, &engine_for_pubsub, &storage.positions));
    server
        .serve(listener, router, shutdown)
        .await
        .context("server error")?;
    if let Some((stop, task)) = pubsub {
        // The engine's shutdown has ended every stream; connections get a moment to close.
        let _ = stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The Pub/Sub API's socket and certificate, ready to serve.
struct PubSubListener {
    listener: TcpListener,
    /// Certificate and key (PEM); `None`: plaintext.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    config: bayou_pubsub::PubSubConfig,
}

impl PubSubListener {
    async fn bind(settings: &PubSubSettings, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen).await.with_context(|| {
            format!(
                "cannot listen for the Pub/Sub API on {} (choose another address with --pubsub-listen, or turn it off with --pubsub-listen off)",
                settings.listen
            )
        })?;
        let identity = if settings.plaintext {
            None
        } else {
            let certificate = match &settings.tls {
                Some((cert, key)) => bayou_pubsub::tls::load(cert, key),
                None => bayou_pubsub::tls::self_signed(data_dir),
            }
            .map_err(anyhow::Error::msg)?;
            bayou_pubsub::tls::check(&certificate).map_err(anyhow::Error::msg)?;
            if certificate.generated {
                eprintln!(
                    "A self-signed certificate for the Pub/Sub API was generated; clients must trust {}",
                    certificate.cert_path.display()
                );
            }
            tracing::info!(certificate = %certificate.cert_path.display(), "Pub/Sub API certificate");
            Some((certificate.cert_pem, certificate.key_pem))
        };
        Ok(Self {
            listener,
            identity,
            config: settings.config.clone(),
        })
    }

    /// Announces the address and serves until the returned sender fires.
    fn start(
        self,
        org: &Arc<Org>,
        engine: &Arc<bayou_server::Engine>,
        positions: &Arc<dyn bayou_log::PositionStore>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let scheme = if self.identity.is_some() {
            "https"
        } else {
            "http"
        };
        match self.listener.local_addr() {
            Ok(local) => {
                tracing::info!("Pub/Sub API (gRPC) listening on {scheme}://{local}");
                // After the "listening on" line, which scripts read first.
                announce(&format!("pubsub listening on {scheme}://{local}"));
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the Pub/Sub API's address"),
        }
        let service = bayou_pubsub::PubSubService::new(
            Arc::clone(org),
            Arc::clone(engine),
            Arc::clone(positions),
            self.config,
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = service.serve(self.listener, self.identity, shutdown).await {
                tracing::error!(error = %e, "the Pub/Sub API stopped");
            }
        });
        (stop, task)
    }
}

/// Writes a line for scripts on stdout. A reader that has gone (a script that read the first
/// line and closed the pipe) must not stop the server, as `println!` would by panicking.
fn announce(line: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed by this call, not when the
/// future is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
