//! faye's own server (npm) as a foreign Bayeux server: the client speaks plain Bayeux over
//! both transports, and re-handshakes and re-subscribes when the server restarts.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bayou_client::{Client, Notice, TransportKind};
use serde_json::json;

use crate::support::{notice, numbers, take};

const WAIT: Duration = Duration::from_secs(20);

struct Faye {
    child: Child,
    port: u16,
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// Whether faye can run here. In CI (`CI=true`) and under `scripts/test.sh`
/// (`BAYOU_REQUIRE_INTEROP=1`, after its `npm ci`) a missing node or faye fails the test;
/// otherwise the test is skipped with the reason printed.
fn faye_available() -> bool {
    let reason = if !interop_dir().join("node_modules/faye").is_dir() {
        Some("tests/interop/node_modules/faye is missing (run `npm ci` in tests/interop)")
    } else if Command::new("node").arg("--version").output().is_err() {
        Some("node is not installed")
    } else {
        None
    };
    match reason {
        None => true,
        Some(reason)
            if std::env::var("CI").is_ok_and(|v| v == "true")
                || std::env::var("BAYOU_REQUIRE_INTEROP").is_ok_and(|v| v == "1") =>
        {
            panic!(
                "the faye test is required here (CI or scripts/test.sh) but cannot run: {reason}"
            )
        }
        Some(reason) => {
            eprintln!("skipping the faye test: {reason}");
            false
        }
    }
}

impl Faye {
    fn start(port: u16) -> Self {
        let mut child = Command::new("node")
            .arg("faye-server.mjs")
            .arg(port.to_string())
            .arg("2")
            .current_dir(interop_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node faye-server.mjs");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from faye-server.mjs: {line:?}"));
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/faye", self.port)
    }
}

impl Drop for Faye {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn faye_client(url: &str, transport: TransportKind) -> Client {
    Client::builder()
        .bayeux_url(url)
        .transport(transport)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .stall_grace(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn exchanges_with_faye(transport: TransportKind) {
    if !faye_available() {
        return;
    }
    crate::support::init_logs();
    let mut faye = Faye::start(0);
    let subscriber = faye_client(&faye.url(), transport);
    let mut notices = subscriber.notice_receiver();
    subscriber.subscribe("/chat/*").await.unwrap();
    let mut events = subscriber.events().unwrap();
    let _running = subscriber.start().unwrap();
    notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Subscribed { .. })
    })
    .await;

    let publisher = faye_client(&faye.url(), TransportKind::LongPolling);
    let _publishing = publisher.start().unwrap();
    for n in 0..5u64 {
        let reply = publisher
            .publish("/chat/room", json!({ "n": n }))
            .await
            .unwrap();
        assert_eq!(reply["successful"], true, "{reply}");
    }
    let got = take(&mut events, 5, WAIT).await;
    assert_eq!(numbers(&got), vec![0, 1, 2, 3, 4]);
    assert!(got
        .iter()
        .all(|e| e.channel == "/chat/room" && e.subscription == "/chat/*"));
    // faye has no replay ids.
    assert!(got.iter().all(|e| e.replay_id.is_none()));

    // faye forgets every client when it restarts: `401::Unknown client`, advice handshake.
    let port = faye.port;
    drop(faye);
    faye = Faye::start(port);
    notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::SessionLost { .. })
    })
    .await;
    notice(&mut notices, WAIT, |n| {
        matches!(n, Notice::Subscribed { .. })
    })
    .await;
    for n in 5..8u64 {
        publisher
            .publish("/chat/room", json!({ "n": n }))
            .await
            .unwrap();
    }
    assert_eq!(numbers(&take(&mut events, 3, WAIT).await), vec![5, 6, 7]);
    drop(faye);
}

#[tokio::test]
async fn faye_server_over_long_polling() {
    exchanges_with_faye(TransportKind::LongPolling).await;
}

#[tokio::test]
async fn faye_server_over_websocket() {
    exchanges_with_faye(TransportKind::WebSocket).await;
}
