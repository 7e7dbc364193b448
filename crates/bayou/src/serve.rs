//! `bayou serve`: build the server from settings, listen, and stop gracefully on SIGINT or
//! SIGTERM (held connects are answered, WebSocket clients get a close frame).

use std::sync::Arc;

use anyhow::Context;
use axum::routing::get;
use bayou_server::{AllowAll, Server};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::logging;
use crate::settings::Settings;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args)?;
    logging::init(settings.log_format, &settings.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;

    let server = Server::new(settings.engine.clone(), Arc::new(AllowAll));
    let router = server.router().route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    );

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
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
        transports = %transports.join(","),
        "Bayou listening on http://{local} (Bayeux endpoint http://{local}/cometd/66.0)"
    );
    // A plain line on stdout for scripts and tests that start Bayou on port 0.
    println!("listening on http://{local}");

    server
        .serve(listener, router, shutdown_signal())
        .await
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
