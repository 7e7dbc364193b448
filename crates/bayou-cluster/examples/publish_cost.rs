//! What one stored event costs a NATS server, by the headers it carries: a measurement, not a
//! test (issue 15's publish-rate goal; the figures are in docs/benchmarks.md).
//!
//! Publishes `COUNT` events of `SIZE` bytes to a fresh stream made as Bayou makes its log
//! (file storage, atomic batches and per-message TTL allowed, a 120 s duplicate window), with
//! an ordered consumer following the stream as a node's tail does, `IN_FLIGHT`
//! acknowledgements outstanding, and prints the NATS server's and this process's CPU per
//! event, read from `/proc`. The variant says which of Bayou's headers each event carries:
//!
//! - `bayou`: what a node sends today (`Bayou-Event`: creation time and replay-id offsets;
//!   `Nats-TTL`; `Nats-Msg-Id`);
//! - `two-own`: Bayou's own two headers of before (`Bayou-Created`, `Bayou-Replay-At`) in
//!   place of `Bayou-Event`;
//! - `no-ttl`: without `Nats-TTL`; `no-msg-id`: without `Nats-Msg-Id`; `nats-only`: only
//!   those two (Bayou's own in the payload); `bare`: no headers.
//!
//! Usage: `cargo run --release -p bayou-cluster --example publish_cost -- NATS_URL NATS_PID
//! VARIANT [COUNT] [IN_FLIGHT]`, with the server pinned apart from this process.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull::OrderedConfig, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;

const SIZE: usize = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, nats_pid, variant) = match &args[..] {
        [url, pid, variant, ..] => (url.clone(), pid.parse::<u32>()?, variant.clone()),
        _ => {
            return Err("usage: publish_cost NATS_URL NATS_PID VARIANT [COUNT] [IN_FLIGHT]".into())
        }
    };
    let count: u64 = args.get(3).map_or(Ok(200_000), |c| c.parse())?;
    let in_flight: usize = args.get(4).map_or(Ok(256), |c| c.parse())?;

    let client = async_nats::connect(&url).await?;
    let js = jetstream::new(client);
    let name = format!("COST_{variant}").replace('-', "_");
    let _ = js.delete_stream(&name).await;
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            storage: stream::StorageType::File,
            allow_atomic_publish: true,
            allow_message_ttl: true,
            allow_direct: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut tail = consumer.messages().await?;
    let tail = tokio::spawn(async move {
        let mut seen = 0_u64;
        while seen < count {
            match tail.next().await {
                Some(Ok(_)) => seen += 1,
                _ => break,
            }
        }
        seen
    });

    let payload = Bytes::from(vec![b'x'; SIZE]);
    let subject = format!("{name}.e.chat.1");
    let (nats_before, self_before, started) =
        (cpu_ticks(nats_pid)?, cpu_ticks_self()?, Instant::now());
    let mut pending = VecDeque::with_capacity(in_flight);
    for n in 0..count {
        let mut headers = HeaderMap::new();
        if variant != "bare" {
            if variant == "two-own" {
                headers.insert("Bayou-Created", "1796000000000");
                headers.insert("Bayou-Replay-At", "10,120");
            } else if variant != "nats-only" {
                headers.insert("Bayou-Event", "1796000000000 10,120");
            }
            if variant != "no-ttl" {
                headers.insert("Nats-TTL", "86400s");
            }
            if variant != "no-msg-id" {
                headers.insert("Nats-Msg-Id", format!("node-a-19a4b-{n:x}").as_str());
            }
        }
        let publish = jetstream::message::PublishMessage::build()
            .headers(headers)
            .payload(payload.clone());
        pending.push_back(js.send_publish(subject.clone(), publish).await?);
        if pending.len() >= in_flight {
            if let Some(ack) = pending.pop_front() {
                ack.await?;
            }
        }
    }
    for ack in pending {
        ack.await?;
    }
    let seen = tail.await?;
    let elapsed = started.elapsed();
    let nats = cpu_ticks(nats_pid)? - nats_before;
    let own = cpu_ticks_self()? - self_before;
    let per_event = |ticks: u64| ticks as f64 * 1e4 / count as f64; // 100 ticks/s → µs
    println!(
        "{variant}: {count} events ({seen} followed) in {:.2} s = {:.0}/s; NATS {:.1} µs/event, client {:.1} µs/event",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        per_event(nats),
        per_event(own),
    );
    js.delete_stream(&name).await?;
    Ok(())
}

/// utime + stime of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> std::io::Result<u64> {
    ticks_of(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

fn cpu_ticks_self() -> std::io::Result<u64> {
    ticks_of(&std::fs::read_to_string("/proc/self/stat")?)
}

fn ticks_of(stat: &str) -> std::io::Result<u64> {
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(field(11) + field(12))
}
