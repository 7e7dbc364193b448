//! The Pub/Sub API on a cluster: an event type defined on one node and an event published over
//! REST on it are read over gRPC on another node — the type, its Avro schema and the event all
//! come through the shared log — with the replay id CometD subscribers see.

use std::process::Command;
use std::time::Duration;

use bayou_testkit::NatsServer;
use serde_json::{json, Value};

use super::{connect, start_node, subscribe, until, ADMIN, PASSWORD, USER};

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reads_over_grpc_what_another_node_published() {
    let Some(nats) = NatsServer::start("the Pub/Sub API on a cluster") else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let a = start_node(&nats.url, "node-a", &[]);
    let b = start_node(&nats.url, "node-b", &[]);

    let defined = a
        .target
        .http
        .post(a.target.url("/admin/platform-events"))
        .bearer_auth(ADMIN)
        .body(r#"{"name":"Low_Ink__e","fields":{"Printer_Model__c":"text"}}"#)
        .send()
        .await
        .unwrap();
    assert!(defined.status().is_success());
    let auth = a.target.auth(USER, PASSWORD).await;
    let (status, reply) = a
        .target
        .rest(
            reqwest::Method::POST,
            "/sobjects/Low_Ink__e",
            &auth,
            Some(json!({"Printer_Model__c": "from A"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    // The replay id CometD gives the event, on A.
    let session = subscribe(&a.target, &auth, "/event/Low_Ink__e", -2).await;
    let event = until("A replays its event", WITHIN, || async {
        connect(&a.target, &auth, &session)
            .await
            .into_iter()
            .find(|m| m["channel"] == "/event/Low_Ink__e")
    })
    .await;
    let replay_id = super::replay_id_of(&event).expect("replay id");

    // Over gRPC on B (B learns the type from the log a moment after A stored it).
    let certificate = b.dir.path().join("pubsub-cert.pem");
    let line = until("B serves the event over gRPC", WITHIN, || {
        let output = Command::new(env!("CARGO_BIN_EXE_bayou"))
            .args(["subscribe", "--api", "pubsub", "/event/Low_Ink__e"])
            .args(["--replay", "-2", "--count", "1", "--pubsub-url", &b.pubsub])
            .arg("--ca-cert")
            .arg(&certificate)
            .env_clear()
            .env("BAYOU_URL", &b.target.origin)
            .env("BAYOU_USERNAME", USER)
            .env("BAYOU_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        std::future::ready((output.status.success() && !line.is_empty()).then_some(line))
    })
    .await;
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["data"]["Printer_Model__c"], "from A", "{line}");
    assert_eq!(line["replayId"].as_u64(), Some(replay_id), "{line}");
    assert_eq!(line["schemaId"], event["data"]["schema"], "{line}");
}
