//! `bayou bench` against a real `bayou serve`, briefly: a few clients over each transport and
//! both layouts. Every message must arrive exactly once, and the JSON must carry the figures
//! (percentiles, rates, CPU) that the docs and the comparison script read.
//!
//! This checks the load generator's bookkeeping, not speed: no figure is compared to a target.

use std::process::Command;

use serde_json::Value;

use crate::serve_process::ServeProcess;

fn bench(bayou: &ServeProcess, extra: &[&str]) -> Value {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let svg = tempfile::NamedTempFile::new().expect("temp file");
    let status = Command::new(env!("CARGO_BIN_EXE_bayou"))
        .args([
            "bench",
            &bayou.bayeux_url(),
            "--quiet",
            "--warmup",
            "500ms",
            "--duration",
            "2s",
        ])
        .args(["--server-pid", &bayou.child.id().to_string()])
        .arg("--json")
        .arg(out.path())
        .arg("--svg")
        .arg(svg.path())
        .args(extra)
        .status()
        .expect("run bayou bench");
    assert!(status.success(), "bayou bench {extra:?} failed");
    let chart = std::fs::read_to_string(svg.path()).expect("svg");
    assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
    serde_json::from_str(&std::fs::read_to_string(out.path()).expect("json")).expect("valid JSON")
}

fn assert_exact_delivery(result: &Value, subscribers_per_message: u64) {
    let expected = result["expected"].as_u64().expect("expected");
    let published = result["published"].as_u64().expect("published");
    assert!(published > 0, "{result}");
    assert_eq!(expected, published * subscribers_per_message, "{result}");
    assert_eq!(result["received"].as_u64(), Some(expected), "{result}");
    for field in [
        "lost",
        "duplicated",
        "publish_failed",
        "sessions_lost",
        "foreign",
    ] {
        assert_eq!(result[field].as_u64(), Some(0), "{field}: {result}");
    }
    let latency = &result["latency_ms"];
    assert!(latency["count"].as_u64().expect("count") > 0, "{result}");
    let order = ["min", "p50", "p90", "p99", "p99_9", "max"].map(|k| {
        latency[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{k} missing: {result}"))
    });
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{latency}");
    assert!(order[0] > 0.0, "{latency}");
    assert!(result["deliveries_per_s"].as_f64().expect("rate") > 0.0);
    assert!(result["bench"]["cpu_cores"].as_f64().is_some());
    let server = &result["server"];
    assert!(
        server["rss_max_bytes"].as_u64().expect("server rss") > 0,
        "{server}"
    );
    assert!(server["cpu_cores"].as_f64().is_some(), "{server}");
}

#[test]
fn fanout_over_websocket_and_long_polling_delivers_everything_once() {
    let _alone = crate::EXCLUSIVE.blocking_write();
    let data = tempfile::tempdir().expect("temp dir");
    let bayou = ServeProcess::start(data.path(), &["--anonymous"], None);
    for transport in ["websocket", "long-polling"] {
        // Two slow consumers beside the measured subscribers: they are sent the same events
        // but never read, and are not counted.
        let result = bench(
            &bayou,
            &[
                "--transport",
                transport,
                "--subscribers",
                "5",
                "--publishers",
                "2",
                "--rate",
                "200",
                "--stalled",
                "2",
            ],
        );
        assert_exact_delivery(&result, 5);
        assert_eq!(result["transport"], transport);
    }
}

#[test]
fn chat_rooms_deliver_to_members_only() {
    let _alone = crate::EXCLUSIVE.blocking_write();
    let data = tempfile::tempdir().expect("temp dir");
    let bayou = ServeProcess::start(data.path(), &["--anonymous"], None);
    // 20 clients in 10 rooms, 5 rooms each: 10 members per room.
    let result = bench(
        &bayou,
        &[
            "--scenario",
            "chat",
            "--subscribers",
            "20",
            "--publishers",
            "2",
            "--rooms",
            "10",
            "--rooms-per-client",
            "5",
            "--rate",
            "400",
        ],
    );
    assert_exact_delivery(&result, 10);
    assert_eq!(result["batch"], 10);
}

#[test]
fn a_handshake_storm_counts_successful_handshakes() {
    let _alone = crate::EXCLUSIVE.blocking_write();
    let data = tempfile::tempdir().expect("temp dir");
    let bayou = ServeProcess::start(data.path(), &["--anonymous"], None);
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let status = Command::new(env!("CARGO_BIN_EXE_bayou"))
        .args([
            "bench",
            &bayou.bayeux_url(),
            "--quiet",
            "--scenario",
            "handshakes",
        ])
        .args(["--subscribers", "4", "--duration", "1s"])
        .args(["--server-pid", &bayou.child.id().to_string()])
        .arg("--json")
        .arg(out.path())
        .status()
        .expect("run bayou bench");
    assert!(status.success());
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).expect("json")).expect("JSON");
    let handshakes = result["handshakes"].as_u64().expect("handshakes");
    assert!(handshakes > 0, "{result}");
    assert_eq!(result["failed"], 0, "{result}");
    assert_eq!(result["latency_ms"]["count"].as_u64(), Some(handshakes));
    // Every handshake made a session on the server, left to expire.
    let url = format!("{}/healthz", bayou.origin);
    let health: Value = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async { reqwest::get(url).await?.json().await })
        .expect("healthz");
    assert!(
        health["sessions"].as_u64().expect("sessions") >= handshakes,
        "{health}"
    );
}

#[test]
fn fanout_over_the_pubsub_api_delivers_everything_once() {
    let _alone = crate::EXCLUSIVE.blocking_write();
    let data = tempfile::tempdir().expect("temp dir");
    let credentials = [
        ("BAYOU_USERNAME", "bench@example.com"),
        ("BAYOU_PASSWORD", "bench password"),
        ("BAYOU_CLIENT_ID", "bench-client"),
        ("BAYOU_CLIENT_SECRET", "bench-secret"),
    ];
    let bayou = ServeProcess::start(
        data.path(),
        &[
            "--admin-token",
            "bench-admin",
            "--bayeux-publish",
            "/event/**=allow",
        ],
        Some(&credentials),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = runtime.block_on(async {
        let http = reqwest::Client::new();
        let defined = http
            .post(format!("{}/admin/platform-events", bayou.origin))
            .bearer_auth("bench-admin")
            .body(r#"{"name":"Bench_0__e","fields":{"p":"number","r":"number","s":"number","t":"number","x":"text"}}"#)
            .send()
            .await
            .unwrap();
        assert!(defined.status().is_success());
        let form = [
            ("grant_type", "password"),
            ("client_id", "bench-client"),
            ("client_secret", "bench-secret"),
            ("username", "bench@example.com"),
            ("password", "bench password"),
        ];
        let reply: Value = http
            .post(format!("{}/services/oauth2/token", bayou.origin))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["access_token"].as_str().unwrap().to_owned()
    });
    let certificate = data.path().join("pubsub-cert.pem");
    let result = bench(
        &bayou,
        &[
            "--transport",
            "pubsub",
            "--channel",
            "/event/Bench_{room}__e",
            "--subscribers",
            "3",
            "--rate",
            "100",
            "--token",
            &token,
            "--pubsub-url",
            bayou.pubsub.as_deref().unwrap(),
            "--ca-cert",
            certificate.to_str().unwrap(),
        ],
    );
    assert_eq!(result["transport"], "pubsub", "{result}");
    assert_exact_delivery(&result, 3);
}
