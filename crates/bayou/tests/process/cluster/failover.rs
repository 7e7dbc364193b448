//! A node killed with SIGKILL while publishers and subscribers run on every node: the
//! subscribers that were on it (`bayou-client`, long-polling and WebSocket, given every node's
//! URL) move to another node, handshake there, resume from the last replay id they handed
//! over — and end up with every acknowledged event exactly once.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bayou_client::{Client, ReplayFrom, StaticToken, TransportKind};
use bayou_testkit::NatsServer;
use serde_json::json;

use super::{publish, start_node, until, PASSWORD, USER};
use crate::hostile::Target;

const CHANNEL: &str = "/failover/events";
const WITHIN: Duration = Duration::from_secs(30);

/// What a subscriber received: replay ids in order of arrival.
type Received = Arc<Mutex<Vec<u64>>>;

fn subscriber(servers: &[String], token: &str, transport: TransportKind) -> (Client, Received) {
    let client = Client::builder()
        .servers(servers.iter().cloned())
        .auth(StaticToken::new(token))
        .transport(transport)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .unwrap();
    let received: Received = Arc::default();

    let mut events = client.events().unwrap();
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Some(id) = event.replay_id {
                sink.lock().unwrap().push(u64::try_from(id).unwrap());
            }
        }
    });
    (client, received)
}

/// Publishes numbered events on `target` until `stop`, recording replay id → (publisher, n) for
/// every acknowledged one; returns when stopped or when the node is gone.
async fn publish_until(
    target: Target,
    auth: String,
    publisher: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acked: Arc<Mutex<BTreeMap<u64, (usize, u64)>>>,
) {
    let Ok(client_id) = tokio::time::timeout(Duration::from_secs(5), target.handshake(&auth)).await
    else {
        return;
    };
    for n in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let data = json!({"publisher": publisher, "n": n});
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            publish_checked(&target, &auth, &client_id, data),
        )
        .await;
        match sent {
            Ok(Some(replay_id)) => {
                acked.lock().unwrap().insert(replay_id, (publisher, n));
            }
            _ => return,
        }
    }
}

/// A publish that survives a dead server (no panic): the replay id when acknowledged.
async fn publish_checked(
    target: &Target,
    auth: &str,
    client_id: &str,
    data: serde_json::Value,
) -> Option<u64> {
    let body = json!([{"channel": CHANNEL, "clientId": client_id, "data": data}]);
    let response = target
        .http
        .post(target.url("/cometd/66.0"))
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .ok()?;
    let replies: serde_json::Value = response.json().await.ok()?;
    (replies[0]["successful"] == true).then(|| replies[0]["ext"]["replayId"].as_u64())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_costs_its_clients_nothing() {
    let Some(nats) = NatsServer::start("a node killed under load") else {
        return;
    };
    let _exclusive = crate::EXCLUSIVE.write().await;
    let mut nodes: Vec<_> = (0..3)
        .map(|i| start_node(&nats.url, &format!("node-{i}"), &[]))
        .collect();
    let servers: Vec<String> = nodes.iter().map(|n| n.target.origin.clone()).collect();
    let auth = nodes[1].target.auth(USER, PASSWORD).await;
    let token = auth.trim_start_matches("Bearer ").to_owned();

    // Both subscribers start on node 0, the one that will die.
    let mut subscribers = Vec::new();
    for transport in [TransportKind::LongPolling, TransportKind::WebSocket] {
        let (client, received) = subscriber(&servers, &token, transport);
        client
            .subscribe_from(CHANNEL, ReplayFrom::Earliest)
            .await
            .unwrap();
        let running = client.start().unwrap();
        // The client stops when its last handle is dropped: the test keeps one.
        subscribers.push((transport, client, running, received));
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked: Arc<Mutex<BTreeMap<u64, (usize, u64)>>> = Arc::default();
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            tokio::spawn(publish_until(
                node.target.clone(),
                auth.clone(),
                i,
                Arc::clone(&stop),
                Arc::clone(&acked),
            ))
        })
        .collect();

    // Live on node 0 first, then node 0 dies.
    for (transport, _, _, received) in &subscribers {
        until(
            &format!("{transport:?} receives events on node 0"),
            WITHIN,
            || async { (received.lock().unwrap().len() >= 100).then_some(()) },
        )
        .await;
    }
    let killed = Instant::now();
    let acked_before_kill = acked.lock().unwrap().keys().max().copied().unwrap_or(0);
    let dead = nodes.remove(0);
    drop(dead); // SIGKILL, and waits for the process to be gone
    for (transport, _, _, received) in &subscribers {
        until(
            &format!("{transport:?} receives events through another node"),
            WITHIN,
            || async {
                let got = received.lock().unwrap();
                got.iter().any(|id| *id > acked_before_kill).then_some(())
            },
        )
        .await;
        eprintln!(
            "{transport:?}: an event newer than any acknowledged before the kill arrived {:?} \
             after it",
            killed.elapsed()
        );
    }
    // Load goes on through the other nodes for a while.
    for (transport, _, _, received) in &subscribers {
        until(
            &format!("{transport:?} receives 200 events after the kill"),
            WITHIN,
            || async {
                let got = received.lock().unwrap();
                (got.iter().filter(|id| **id > acked_before_kill).count() >= 200).then_some(())
            },
        )
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for publisher in publishers {
        publisher.await.unwrap();
    }

    // A last event, so that "received everything" has an end.
    let target = &nodes[0].target;
    let client_id = target.handshake(&auth).await;
    let sentinel = publish(
        target,
        &auth,
        &client_id,
        CHANNEL,
        json!({"sentinel": true}),
    )
    .await;
    let sentinel = sentinel["ext"]["replayId"]
        .as_u64()
        .expect("sentinel stored");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 200,
        "enough load: {} acknowledged",
        acked.len()
    );
    for (transport, _client, running, received) in subscribers {
        until(
            &format!("{transport:?} receives the last event"),
            WITHIN,
            || async { received.lock().unwrap().contains(&sentinel).then_some(()) },
        )
        .await;
        running.stop().await.unwrap();
        let received = received.lock().unwrap().clone();
        let mut seen = HashSet::new();
        let duplicated: Vec<u64> = received
            .iter()
            .filter(|id| !seen.insert(**id))
            .copied()
            .collect();
        assert!(
            duplicated.is_empty(),
            "{transport:?}: duplicated {duplicated:?}"
        );
        let lost: Vec<u64> = acked
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        assert!(
            lost.is_empty(),
            "{transport:?}: lost {} acknowledged events: {lost:?}",
            lost.len()
        );
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "{transport:?}: out of order"
        );
    }
}
