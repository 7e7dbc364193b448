//! A well-behaved client beside the attacks: one session publishes a numbered event every
//! 20 ms, another receives them over long-polling. At the end every number acknowledged must
//! have arrived once, in order — nothing lost, nothing doubled, whatever the attacks did.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::task::JoinHandle;

use super::Target;

const CHANNEL: &str = "/chat/bystander";

pub struct Bystander {
    stop: Arc<AtomicBool>,
    /// How many events the receiver waits for: set once the publisher has stopped.
    expected: Arc<AtomicU64>,
    publisher: JoinHandle<u64>,
    received: Arc<Mutex<Vec<u64>>>,
    receiver: JoinHandle<()>,
}

impl Bystander {
    pub async fn start(target: &Target, auth: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let expected = Arc::new(AtomicU64::new(u64::MAX));
        let received = Arc::new(Mutex::new(Vec::new()));

        let listener = target.handshake(&auth).await;
        let subscribe = json!([
            {"channel":"/meta/connect","clientId":listener,"connectionType":"long-polling"},
            {"channel":"/meta/subscribe","clientId":listener,"subscription":CHANNEL}
        ]);
        let (_, replies) = target.bayeux(&auth, subscribe).await;
        assert_eq!(replies[1]["successful"], true, "{replies}");
        let receiver = tokio::spawn({
            let (target, auth, received, expected) = (
                target.clone(),
                auth.clone(),
                Arc::clone(&received),
                Arc::clone(&expected),
            );
            async move {
                let connect = json!([{"channel":"/meta/connect","clientId":listener,"connectionType":"long-polling","advice":{"timeout":500}}]);
                // Once the publisher has stopped, a few more connects at most: an event still
                // missing by then is lost, and `finish` says which.
                let mut rounds_left = 20;
                while (received.lock().len() as u64) < expected.load(Ordering::Relaxed)
                    && rounds_left > 0
                {
                    if expected.load(Ordering::Relaxed) != u64::MAX {
                        rounds_left -= 1;
                    }
                    let (status, replies) = target.bayeux(&auth, connect.clone()).await;
                    assert_eq!(status, 200, "bystander connect: {replies}");
                    for message in replies.as_array().unwrap() {
                        if message["channel"] == "/meta/connect" {
                            assert_eq!(message["successful"], true, "bystander: {message}");
                        } else if message["channel"] == CHANNEL {
                            received.lock().push(message["data"]["n"].as_u64().unwrap());
                        }
                    }
                }
            }
        });

        let speaker = target.handshake(&auth).await;
        let publisher = tokio::spawn({
            let (target, stop) = (target.clone(), Arc::clone(&stop));
            async move {
                let mut n = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let publish = json!([{"channel":CHANNEL,"clientId":speaker,"data":{"n":n}}]);
                    let (status, replies) = target.bayeux(&auth, publish).await;
                    assert_eq!(status, 200);
                    assert_eq!(
                        replies[0]["successful"], true,
                        "bystander publish: {replies}"
                    );
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                n
            }
        });
        Self {
            stop,
            expected,
            publisher,
            received,
            receiver,
        }
    }

    /// Stops publishing, collects the rest and checks that every acknowledged event arrived,
    /// once and in order. Returns how many there were.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let published = self.publisher.await.expect("bystander publisher");
        self.expected.store(published, Ordering::Relaxed);
        self.receiver.await.expect("bystander receiver");
        let received = self.received.lock().clone();
        let expected: Vec<u64> = (0..published).collect();
        assert_eq!(
            received, expected,
            "the bystander lost, doubled or reordered events"
        );
        published
    }
}
