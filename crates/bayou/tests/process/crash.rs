//! `kill -9` during a publish load, several times in a row, against the real `bayou` binary.
//!
//! Every publish the server acknowledged must be found after the restart, with the replay id
//! it was acknowledged with; replay ids keep increasing across restarts and are never reused;
//! and a client resuming from its last replay id receives exactly the events after it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::serve_process::ServeProcess;

const ROUNDS: usize = 5;
const PUBLISHERS: usize = 8;

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Vec<Value>, String> {
    let response = http
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(body.as_array().cloned().unwrap_or_default())
}

async fn handshake(http: &reqwest::Client, url: &str) -> String {
    let replies = post(
        http,
        url,
        json!([{"channel":"/meta/handshake","version":"1.0",
        "supportedConnectionTypes":["long-polling"]}]),
    )
    .await
    .unwrap();
    let id = replies[0]["clientId"].as_str().unwrap().to_owned();
    post(
        http,
        url,
        json!([{"channel":"/meta/connect","clientId":id,"connectionType":"long-polling"}]),
    )
    .await
    .unwrap();
    id
}

/// Publishes until the server dies; records what was acknowledged: replay id → payload.
async fn publish_until_killed(
    url: String,
    round: usize,
    worker: usize,
    acked: Arc<Mutex<BTreeMap<u64, Value>>>,
) {
    let http = reqwest::Client::new();
    let Ok(id) = tokio::time::timeout(Duration::from_secs(5), handshake(&http, &url)).await else {
        return;
    };
    for n in 0.. {
        let data = json!({"round": round, "worker": worker, "n": n});
        let message =
            json!([{"channel": format!("/crash/w{worker}"), "clientId": id, "data": data}]);
        match post(&http, &url, message).await {
            Ok(replies) if replies.first().is_some_and(|r| r["successful"] == true) => {
                let replay_id = replies[0]["ext"]["replayId"]
                    .as_u64()
                    .expect("replay id in ext");
                acked.lock().unwrap().insert(replay_id, data);
            }
            _ => return, // the server is gone
        }
    }
}

/// Subscribes to `/crash/**` from `from` and returns every event before the sentinel it
/// publishes, and the sentinel's replay id.
async fn replay_all(url: &str, from: i64) -> (Vec<(u64, Value)>, u64) {
    let http = reqwest::Client::new();
    let id = handshake(&http, url).await;
    let replies = post(
        &http,
        url,
        json!([{"channel":"/meta/subscribe","clientId":id,
        "subscription":["/crash/**"],"ext":{"replay":{"/crash/**": from}}}]),
    )
    .await
    .unwrap();
    assert_eq!(replies[0]["successful"], true, "{replies:?}");
    let sentinel = post(
        &http,
        url,
        json!([{"channel":"/crash/sentinel","clientId":id,"data":{"sentinel":true}}]),
    )
    .await
    .unwrap();
    let sentinel_id = sentinel[0]["ext"]["replayId"].as_u64().unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "sentinel never arrived");
        let replies = post(
            &http,
            url,
            json!([{"channel":"/meta/connect","clientId":id,"connectionType":"long-polling"}]),
        )
        .await
        .unwrap();
        for m in replies {
            if m["channel"]
                .as_str()
                .is_some_and(|c| c.starts_with("/crash/"))
            {
                let replay_id = m["ext"]["replayId"].as_u64().unwrap();
                if replay_id == sentinel_id {
                    return (events, sentinel_id);
                }
                events.push((replay_id, m["data"].clone()));
            }
        }
    }
}

#[test]
fn acknowledged_events_survive_kill_9_and_ids_are_never_reused() {
    survives_kill_9(&["--anonymous"], ROUNDS);
}

/// `--durability relaxed` acknowledges once the event is handed to the OS: a crash of Bayou
/// (not of the machine) loses none either.
#[test]
fn relaxed_durability_survives_kill_9_too() {
    survives_kill_9(&["--anonymous", "--durability", "relaxed"], 3);
}

fn survives_kill_9(args: &[&str], rounds: usize) {
    // Publishes as fast as the server acknowledges: not beside the hostile suite's watch.
    let _alone = crate::EXCLUSIVE.blocking_write();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut all_acked: BTreeMap<u64, Value> = BTreeMap::new();
    let mut highest_before = 0_u64;
    for round in 0..rounds {
        let bayou = ServeProcess::start(data.path(), args, None);
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let url = bayou.bayeux_url();
        let workers: Vec<_> = (0..PUBLISHERS)
            .map(|w| {
                runtime.spawn(publish_until_killed(
                    url.clone(),
                    round,
                    w,
                    Arc::clone(&acked),
                ))
            })
            .collect();
        // Kill at a different point of the load each round.
        let target = 100 + round * 150;
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < target {
            assert!(Instant::now() < deadline, "publishers stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(bayou); // SIGKILL
        for worker in workers {
            runtime.block_on(worker).unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        let lowest = *acked.keys().next().unwrap();
        assert!(
            lowest > highest_before,
            "round {round}: id {lowest} reused (had {highest_before})"
        );
        highest_before = *acked.keys().next_back().unwrap();
        all_acked.extend(acked);

        // After the restart every acknowledged event is there, in order, with its data.
        let bayou = ServeProcess::start(data.path(), args, None);
        let (replayed, sentinel) = runtime.block_on(replay_all(&bayou.bayeux_url(), -2));
        let stored: BTreeMap<u64, Value> = replayed.iter().cloned().collect();
        assert!(
            replayed.windows(2).all(|w| w[0].0 < w[1].0),
            "replay out of order"
        );
        for (id, data) in &all_acked {
            assert_eq!(
                stored.get(id),
                Some(data),
                "round {round}: acknowledged event {id} lost"
            );
        }
        // Resuming from an acknowledged id gives exactly what follows it.
        let (&resume_from, _) = all_acked.iter().nth(all_acked.len() / 2).unwrap();
        let (resumed, _) = runtime.block_on(replay_all(&bayou.bayeux_url(), resume_from as i64));
        let mut expected: Vec<u64> = replayed
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| *id > resume_from)
            .collect();
        expected.push(sentinel); // the first replay's sentinel is on /crash/** too
        let got: Vec<u64> = resumed.iter().map(|(id, _)| *id).collect();
        assert_eq!(got, expected, "round {round}: resume from {resume_from}");
        drop(bayou); // SIGKILL
    }
}
