//! An org and a Bayou server in one process, wired as the `bayou serve` binary wires them
//! (server router, the org's REST and login routes, the admin API), on 127.0.0.1:0.
//!
//! The data directory lives as long as the [`Bayou`], so [`Bayou::restart`] brings a new org
//! and server up on the same port with the same log, records and tokens: that is how the client
//! tests check recovery from a real restart.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bayou_log::{EmbeddedOptions, Storage};
use bayou_org::identity::CredentialOverrides;
use bayou_org::{Org, OrgConfig};
use bayou_server::{Engine, EngineConfig, Server};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{AckGate, ADMIN, CLIENT, OTHER_PASSWORD, OTHER_USER, PASSWORD, SECRET, USER};

/// How often, and how long, a restart retries what the stopped server may still hold (its
/// port, its log's lock) for a moment after it has gone.
const REOPEN_ATTEMPTS: u32 = 50;
const REOPEN_PAUSE: Duration = Duration::from_millis(100);

/// An org and a Bayou server running in-process; stopped when dropped.
pub struct Bayou {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::Client,
    addr: SocketAddr,
    data: tempfile::TempDir,
    org_config: OrgConfig,
    engine_config: EngineConfig,
    engine: Option<Arc<Engine>>,
    org: Option<Arc<Org>>,
    positions: Option<Arc<dyn bayou_log::PositionStore>>,
    /// When set, the log's event appends are acknowledged only through this gate.
    acks: Option<AckGate>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts an org with `config` and a server with the default engine settings.
pub async fn start(config: OrgConfig) -> Bayou {
    Bayou::start(config, EngineConfig::default()).await
}

/// Starts an org with `config` and a server with `engine`.
pub async fn start_with(config: OrgConfig, engine: EngineConfig) -> Bayou {
    Bayou::start(config, engine).await
}

/// Logs of the client and server when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

impl Bayou {
    pub async fn start(org_config: OrgConfig, engine_config: EngineConfig) -> Self {
        Self::start_gated(org_config, engine_config, None).await
    }

    /// Starts an org and a server whose log acknowledges event appends only through `acks`
    /// (see [`HeldAcks`](crate::HeldAcks)).
    pub async fn start_holding_acks(
        org_config: OrgConfig,
        engine_config: EngineConfig,
        acks: AckGate,
    ) -> Self {
        Self::start_gated(org_config, engine_config, Some(acks)).await
    }

    async fn start_gated(
        org_config: OrgConfig,
        engine_config: EngineConfig,
        acks: Option<AckGate>,
    ) -> Self {
        init_logs();
        let data = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bayou = Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            addr,
            data,
            org_config,
            engine_config,
            engine: None,
            org: None,
            positions: None,
            acks,
            stop: None,
            task: None,
        };
        bayou.serve(listener).await;
        bayou
    }

    /// The data directory (log, records, identity).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The running server's engine, for tests that wait on its state (a held connect, a
    /// queue drained) rather than sleeping.
    pub fn engine(&self) -> &Arc<Engine> {
        self.engine.as_ref().expect("the server is stopped")
    }

    /// The running server's org, for tests that serve another API beside it (the Pub/Sub
    /// API).
    pub fn org(&self) -> &Arc<Org> {
        self.org.as_ref().expect("the server is stopped")
    }

    /// The running server's committed positions (managed subscriptions of the Pub/Sub API).
    pub fn positions(&self) -> &Arc<dyn bayou_log::PositionStore> {
        self.positions.as_ref().expect("the server is stopped")
    }

    async fn serve(&mut self, listener: TcpListener) {
        let dir = self.data.path().to_owned();
        let overrides = CredentialOverrides {
            username: Some(USER.into()),
            password: Some(PASSWORD.into()),
            client_id: Some(CLIENT.into()),
            client_secret: Some(SECRET.into()),
            extra_users: vec![(OTHER_USER.into(), OTHER_PASSWORD.into())],
        };
        let mut attempts = 0;
        let storage = loop {
            let opened = Storage::embedded(
                &dir.join("log"),
                EmbeddedOptions::default(),
                self.org_config.session_timeout,
            );
            match opened {
                Ok(storage) => break storage,
                Err(_) if attempts < REOPEN_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(REOPEN_PAUSE).await;
                }
                Err(e) => panic!("cannot open the log: {e}"),
            }
        };
        let mut storage = storage;
        if let Some(acks) = &self.acks {
            storage.log = Arc::new(acks.hold(Arc::clone(&storage.log)));
        }
        let (org, _) = Org::open(&dir, &overrides, self.org_config.clone(), &storage)
            .await
            .unwrap();
        self.positions = Some(Arc::clone(&storage.positions));
        let server = Server::new(
            self.engine_config.clone(),
            org.clone(),
            storage.log,
            storage.counters,
        );
        let engine = server.engine().clone();
        let admin = bayou_org::admin::router(org.clone(), engine.clone(), Some(ADMIN.to_owned()));
        let router = server.router().merge(org.router(&engine)).merge(admin);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.engine = Some(engine);
        self.org = Some(org);
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = server
                .serve(listener, router, async move {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Stops the server (gracefully) and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.engine = None;
        self.org = None;
        self.positions = None;
    }

    /// Stops the server and starts a new org and server on the same port with the same data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if attempts < REOPEN_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(REOPEN_PAUSE).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener).await;
    }
}

impl Drop for Bayou {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
