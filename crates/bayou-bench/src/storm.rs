//! A handshake storm: what a server does when every client connects at once (after a restart,
//! a network cut, a deploy). `clients` loops each send one long-polling `/meta/handshake` after
//! another, as fast as the server answers, for the duration; the result is handshakes per
//! second, their latency, failures, and the server's CPU and memory.
//!
//! The sessions are left to expire, as a storm of real clients that never got further would
//! leave them; the server's memory growth therefore includes them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use crate::report::Percentiles;
use crate::system::{self, CpuMeter};
use crate::{wire, BenchError};

/// What a storm does.
#[derive(Debug, Clone, Serialize)]
pub struct StormConfig {
    pub url: String,
    #[serde(skip)]
    pub token: Option<String>,
    /// Handshaking loops running at once.
    pub clients: usize,
    #[serde(with = "crate::config::secs")]
    pub duration: Duration,
    pub server_pid: Option<u32>,
}

/// What the server did.
#[derive(Debug, Clone, Serialize)]
pub struct StormResult {
    pub scenario: &'static str,
    pub config: StormConfig,
    pub handshakes: u64,
    pub handshakes_per_s: f64,
    /// Handshakes answered unsuccessfully, or not answered.
    pub failed: u64,
    /// Up to ten distinct failure texts.
    pub failures: Vec<String>,
    /// Request to reply, in milliseconds.
    pub latency_ms: Percentiles,
    pub bench_cpu_cores: Option<f64>,
    pub server_cpu_cores: Option<f64>,
    pub server_rss_before_bytes: Option<u64>,
    pub server_rss_after_bytes: Option<u64>,
}

struct Tally {
    handshakes: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
    latencies: Mutex<Histogram<u64>>,
}

impl Tally {
    fn new() -> Self {
        Self {
            handshakes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
            latencies: Mutex::new(Histogram::new(3).expect("a histogram")),
        }
    }

    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Relaxed);
        let mut failures = self.failures.lock();
        if failures.len() < 10 && !failures.contains(&why) {
            failures.push(why);
        }
    }
}

/// Runs the storm.
pub async fn run(config: StormConfig) -> Result<StormResult, BenchError> {
    if config.clients == 0 || config.duration.is_zero() {
        return Err(BenchError::Config(
            "a storm needs at least one client and a duration".into(),
        ));
    }
    let http = crate::run::http_client(&config.url)?;
    let body = bytes::Bytes::from(wire::handshake(&[
        bayou_protocol::connection_type::LONG_POLLING,
    ]));
    let tally = Arc::new(Tally::new());
    let stop = Arc::new(AtomicBool::new(false));
    let rss_before = system::rss_bytes(config.server_pid);
    let mut bench_meter = CpuMeter::new(None);
    let mut server_meter = config.server_pid.map(|pid| CpuMeter::new(Some(pid)));
    let started = Instant::now();
    let loops: Vec<_> = (0..config.clients)
        .map(|_| {
            let (http, body, tally, stop) = (
                http.clone(),
                body.clone(),
                Arc::clone(&tally),
                Arc::clone(&stop),
            );
            let (url, token) = (config.url.clone(), config.token.clone());
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).expect("a histogram");
                while !stop.load(Relaxed) {
                    let mut request = http
                        .post(&url)
                        .header("content-type", "application/json;charset=UTF-8")
                        .body(body.clone());
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let sent = Instant::now();
                    match handshake_reply(request).await {
                        Ok(()) => {
                            let us = sent.elapsed().as_micros() as u64;
                            let _ = latencies.record(us.max(1));
                            tally.handshakes.fetch_add(1, Relaxed);
                        }
                        Err(why) => tally.fail(why),
                    }
                }
                let _ = tally.latencies.lock().add(&latencies);
            })
        })
        .collect();
    tokio::time::sleep(config.duration).await;
    stop.store(true, Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (bench_cpu, server_cpu) = (
        bench_meter.sample(),
        server_meter.as_mut().and_then(CpuMeter::sample),
    );
    let rss_after = system::rss_bytes(config.server_pid);
    for handle in loops {
        let _ = handle.await;
    }
    let handshakes = tally.handshakes.load(Relaxed);
    let latency_ms = Percentiles::of(&tally.latencies.lock());
    let failures = tally.failures.lock().clone();
    Ok(StormResult {
        scenario: "handshakes",
        config,
        handshakes,
        handshakes_per_s: handshakes as f64 / elapsed,
        failed: tally.failed.load(Relaxed),
        failures,
        latency_ms,
        bench_cpu_cores: bench_cpu,
        server_cpu_cores: server_cpu,
        server_rss_before_bytes: rss_before,
        server_rss_after_bytes: rss_after,
    })
}

/// Sends one handshake; `Ok` if the server answered it successfully.
async fn handshake_reply(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let messages = wire::decode(&body)?;
    match messages.iter().find(|m| m.channel == "/meta/handshake") {
        Some(m) if m.successful == Some(true) => Ok(()),
        Some(m) => Err(m.error_text()),
        None => Err("no handshake reply".into()),
    }
}
