//! NATS servers failing under Bayou: with three NATS servers and the stream replicated on all
//! of them, one lost changes nothing; two lost stop writes with a clear error (REST 503 in
//! Salesforce's shape, Bayeux `successful:false`) and lose nothing acknowledged; the cluster
//! heals when they return. A NATS restarted under load is reconnected to without restarting
//! Bayou.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bayou_testkit::NatsServer;
use serde_json::{json, Value};

use super::{connect, replay_id_of, start_node, subscribe, until, urls, PASSWORD, USER};
use crate::hostile::Target;

const CHANNEL: &str = "/nats/events";
/// Long enough for JetStream to elect new leaders after a server is lost.
const RECOVERY: Duration = Duration::from_secs(60);

/// One Bayeux publish on a fresh session: the replay id when acknowledged, else the reply.
async fn publish_once(target: &Target, auth: &str, n: u64) -> Result<u64, Value> {
    let body = json!([
        {"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}
    ]);
    let (_, replies) = target.bayeux(auth, body).await;
    let client_id = replies[0]["clientId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = json!([{"channel": CHANNEL, "clientId": client_id, "data": {"n": n}}]);
    let (_, replies) = target.bayeux(auth, body).await;
    match replies[0]["ext"]["replayId"].as_u64() {
        Some(id) if replies[0]["successful"] == true => Ok(id),
        _ => Err(replies[0].clone()),
    }
}

/// Publishes `count` events, each retried until acknowledged; returns their replay ids.
async fn publish_acknowledged(target: &Target, auth: &str, from: u64, count: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for n in from..from + count {
        let id = until(
            &format!("publish {n} is acknowledged"),
            RECOVERY,
            || async { publish_once(target, auth, n).await.ok() },
        )
        .await;
        ids.push(id);
    }
    ids
}

/// Every replay id on [`CHANNEL`] the node can replay from the start.
async fn replayed(target: &Target, auth: &str) -> BTreeSet<u64> {
    let client_id = subscribe(target, auth, CHANNEL, -2).await;
    let mut ids = BTreeSet::new();
    loop {
        let replies = connect(target, auth, &client_id).await;
        let events: Vec<u64> = replies
            .iter()
            .filter(|m| m["channel"] == CHANNEL)
            .filter_map(replay_id_of)
            .collect();
        if events.is_empty() {
            return ids;
        }
        ids.extend(events);
    }
}

/// Waits until `node` can replay every acknowledged event; fails naming those it lost.
async fn assert_all_stored(node: &Target, auth: &str, acked: &[u64], what: &str) {
    let last = *acked.iter().max().unwrap();
    let stored = until(what, RECOVERY, || async {
        let stored = replayed(node, auth).await;
        stored.contains(&last).then_some(stored)
    })
    .await;
    let lost: Vec<u64> = acked
        .iter()
        .filter(|id| !stored.contains(id))
        .copied()
        .collect();
    assert!(lost.is_empty(), "lost acknowledged events {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_nats_servers_stops_writes_clearly_and_loses_nothing() {
    let Some(mut nats) = NatsServer::start_cluster("losing NATS servers") else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let all = urls(&nats);
    let a = start_node(&all, "node-a", &[]);
    let b = start_node(&all, "node-b", &[]);
    let (a, b) = (&a.target, &b.target);
    let health = a.health().await;
    assert_eq!(
        health["cluster"]["replicas"], 3,
        "three NATS servers: three replicas"
    );
    let auth = a.auth(USER, PASSWORD).await;
    let mut acked = publish_acknowledged(a, &auth, 0, 20).await;

    // One server of three lost: writes and delivery go on.
    nats[0].kill();
    acked.extend(publish_acknowledged(a, &auth, 20, 20).await);
    acked.extend(publish_acknowledged(b, &auth, 40, 20).await);

    // Two lost: no quorum. Writes fail, and say so.
    nats[1].kill();
    let refused = until("a publish is refused without quorum", RECOVERY, || async {
        publish_once(a, &auth, 1_000).await.err()
    })
    .await;
    assert_eq!(refused["successful"], false, "{refused}");
    assert!(
        refused["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a Bayeux error: {refused}"
    );
    let (status, body) = a
        .rest(
            reqwest::Method::POST,
            "/sobjects/Account",
            &auth,
            Some(json!({"Name":"x"})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body[0]["errorCode"], "SERVER_UNAVAILABLE", "{body}");

    // They come back: the cluster heals and nothing acknowledged was lost.
    nats[0].restart();
    nats[1].restart();
    acked.extend(publish_acknowledged(a, &auth, 60, 20).await);
    for node in [a, b] {
        assert_all_stored(node, &auth, &acked, "the node has every acknowledged event").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_under_load_is_reconnected_to() {
    let Some(mut nats) = NatsServer::start("NATS restarted under load") else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let node = start_node(&nats.url, "node-a", &[]);
    let target = &node.target;
    let auth = target.auth(USER, PASSWORD).await;
    // A live subscriber across the restart: the tail follows the stream again from where it
    // was, so this session must get every event once.
    let live = subscribe(target, &auth, CHANNEL, -1).await;
    connect(target, &auth, &live).await;
    let mut acked = publish_acknowledged(target, &auth, 0, 20).await;
    nats.kill();
    let down = Instant::now();
    let refused = publish_once(target, &auth, 500).await;
    assert!(refused.is_err(), "no NATS, no acknowledgement: {refused:?}");
    nats.restart();
    acked.extend(publish_acknowledged(target, &auth, 20, 20).await);
    eprintln!(
        "writes acknowledged again {:?} after NATS went down",
        down.elapsed()
    );
    let health = target.health().await;
    assert_eq!(health["cluster"]["nats"], "connected", "{health}");
    assert_all_stored(
        target,
        &auth,
        &acked,
        "the node's tail follows the stream again",
    )
    .await;
    eprintln!(
        "the tail caught up {:?} after NATS went down",
        down.elapsed()
    );
}
