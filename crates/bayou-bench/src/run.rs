//! One measured run: set every session up, publish (warm-up, then measured), wait for the last
//! deliveries, count.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::client::{long_polling, pubsub, websocket, Phase, Receiver, Shared};
use crate::config::{BenchConfig, Transport};
use crate::recorder::Recorder;
use crate::report::{BenchResult, BenchUse, Percentiles, Sample, ServerUse};
use crate::system::{self, CpuMeter};
use crate::BenchError;

/// What a progress display is told, a few times a second.
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: &'static str,
    /// Sessions set up so far, of `sessions`.
    pub ready: u64,
    pub sessions: u64,
    /// Time into the publishing phase, of `total` (warm-up + duration + drain at most).
    pub elapsed: Duration,
    pub total: Duration,
    pub deliveries_per_s: f64,
    pub received: u64,
    pub bench_cpu: Option<f64>,
}

const TICK: Duration = Duration::from_millis(250);

/// Runs one configuration against the server. A slow or lossy server still gives a result;
/// an error means the run could not happen (unreachable server, refused handshake…).
pub async fn run(
    config: BenchConfig,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<BenchResult, BenchError> {
    config.validate()?;
    let http = http_client(&config.url)?;
    let server_pid = config.server_pid;
    let rss_before = server_pid.and_then(|pid| system::rss_bytes(Some(pid)));
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let members = config.layout.members(config.subscribers);
    let shared = Arc::new(Shared {
        recorder: Recorder::new(Instant::now(), u64::MAX, u64::MAX),
        members,
        http,
        phase: phase_rx,
        publish_start_us: Default::default(),
        config,
    });
    let mut ticker = tokio::time::interval(TICK);
    let setup = set_up(&shared, &phase_tx, &mut ticker, progress).await?;
    // Let the first connects (answered at once by most servers) be followed by held ones.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after_setup = server_pid.and_then(|pid| system::rss_bytes(Some(pid)));
    let measured = publish(
        &shared,
        &phase_tx,
        &mut ticker,
        &setup,
        rss_after_setup,
        progress,
    )
    .await;
    let _ = phase_tx.send(Phase::Stop);
    stop(setup.tasks).await;
    let rss = Rss {
        before: rss_before,
        after_setup: rss_after_setup,
    };
    Ok(report(
        &shared,
        setup.setup_s,
        setup.sessions,
        rss,
        measured,
    ))
}

/// The HTTP client every session of a run shares (connections kept, Nagle off).
pub(crate) fn http_client(url: &str) -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .build()
        .map_err(|source| BenchError::Http {
            url: url.to_owned(),
            source,
        })
}

/// The sessions, all set up.
struct Setup {
    tasks: JoinSet<()>,
    sessions: u64,
    ready: u64,
    setup_s: f64,
}

/// Setup: every session handshakes and subscribes before anyone publishes.
async fn set_up(
    shared: &Arc<Shared>,
    phase_tx: &watch::Sender<Phase>,
    ticker: &mut tokio::time::Interval,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Setup, BenchError> {
    let config = &shared.config;
    let sessions = (config.subscribers + config.publishers + config.stalled) as u64;
    let setup_started = Instant::now();
    let mut tasks = JoinSet::new();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), BenchError>>();
    let setup_slots = Arc::new(Semaphore::new(config.setup_concurrency.max(1)));
    for index in 0..config.subscribers {
        tasks.spawn(subscriber(
            Arc::clone(shared),
            index,
            config.layout.channels_of(index),
            Arc::clone(&setup_slots),
            ready_tx.clone(),
        ));
    }
    for index in 0..config.stalled {
        // The rooms a subscriber with the same index joins: each slow consumer is sent what
        // a measured subscriber is sent.
        tasks.spawn(stalled(
            Arc::clone(shared),
            config.layout.channels_of(index),
            Arc::clone(&setup_slots),
            ready_tx.clone(),
        ));
    }
    for index in 0..config.publishers {
        tasks.spawn(publisher(
            Arc::clone(shared),
            index,
            Arc::clone(&setup_slots),
            ready_tx.clone(),
        ));
    }
    drop(ready_tx);
    let mut ready = 0_u64;
    while ready < sessions {
        tokio::select! {
            outcome = ready_rx.recv() => match outcome {
                Some(Ok(())) => {
                    ready += 1;
                    shared.recorder.sessions_ready.store(ready, Relaxed);
                }
                Some(Err(e)) => {
                    let _ = phase_tx.send(Phase::Stop);
                    tasks.abort_all();
                    return Err(e);
                }
                None => break,
            },
            _ = ticker.tick() => progress(&Progress {
                phase: "connecting",
                ready,
                sessions,
                elapsed: Duration::ZERO,
                total: config.warmup + config.duration,
                deliveries_per_s: 0.0,
                received: 0,
                bench_cpu: None,
            }),
        }
    }
    Ok(Setup {
        tasks,
        sessions,
        ready,
        setup_s: setup_started.elapsed().as_secs_f64(),
    })
}

/// What was sampled once a second while publishing.
struct Measured {
    timeline: Vec<Sample>,
    /// CPU samples of the measured window only (not warm-up, not drain).
    bench_cpu: Vec<f64>,
    server_cpu: Vec<f64>,
    rss_max: Option<u64>,
}

/// The server's resident memory before and after setup.
struct Rss {
    before: Option<u64>,
    after_setup: Option<u64>,
}

/// Publishing: warm-up, the measured window, then draining until every publish is answered
/// and every expected delivery arrived (or the drain time is up). Samples once a second.
async fn publish(
    shared: &Shared,
    phase_tx: &watch::Sender<Phase>,
    ticker: &mut tokio::time::Interval,
    setup: &Setup,
    rss_after_setup: Option<u64>,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Measured {
    let config = &shared.config;
    let server_pid = config.server_pid;
    let (ready, sessions) = (setup.ready, setup.sessions);
    let recorder = &shared.recorder;
    let start_us = recorder.now_us();
    let warmup_us = config.warmup.as_micros() as u64;
    let until_us = start_us + warmup_us + config.duration.as_micros() as u64;
    shared.publish_start_us.store(start_us, Relaxed);
    recorder
        .measure_from_us
        .store(start_us + warmup_us, Relaxed);
    recorder.measure_until_us.store(until_us, Relaxed);
    let _ = phase_tx.send(Phase::Publish);

    let mut bench_meter = CpuMeter::new(None);
    let mut server_meter = server_pid.map(|pid| CpuMeter::new(Some(pid)));
    let mut timeline = Vec::new();
    let mut measured_cpu = Vec::new();
    let mut measured_server_cpu = Vec::new();
    let mut rss_max = rss_after_setup;
    let mut last_sample = (Instant::now(), 0_u64, 0_u64);
    let mut last_rate = 0.0;
    let mut bench_cpu = None;
    let drain_until_us = until_us + config.drain.as_micros() as u64;
    loop {
        ticker.tick().await;
        let now_us = recorder.now_us();
        let (at, delivered, published) = last_sample;
        if at.elapsed() >= Duration::from_secs(1) {
            let wall = at.elapsed().as_secs_f64();
            let delivered_now = recorder.unique.load(Relaxed);
            let published_now = recorder.published.load(Relaxed);
            bench_cpu = bench_meter.sample();
            let server_cpu = server_meter.as_mut().and_then(CpuMeter::sample);
            let server_rss = server_pid.and_then(|pid| system::rss_bytes(Some(pid)));
            rss_max = rss_max.max(server_rss);
            last_rate = (delivered_now - delivered) as f64 / wall;
            let t = now_us.saturating_sub(start_us) as f64 / 1e6;
            if now_us > start_us + warmup_us && now_us <= until_us {
                measured_cpu.extend(bench_cpu);
                measured_server_cpu.extend(server_cpu);
            }
            timeline.push(Sample {
                t,
                deliveries_per_s: last_rate,
                publishes_per_s: (published_now - published) as f64 / wall,
                bench_cpu,
                server_cpu,
                server_rss_bytes: server_rss,
                max_latency_ms: Some(recorder.take_window_max_us())
                    .filter(|&us| us > 0)
                    .map(|us| us as f64 / 1e3),
            });
            last_sample = (Instant::now(), delivered_now, published_now);
        }
        let publishing = now_us < until_us;
        progress(&Progress {
            phase: if now_us < start_us + warmup_us {
                "warm-up"
            } else if publishing {
                "measuring"
            } else {
                "draining"
            },
            ready,
            sessions,
            elapsed: Duration::from_micros(now_us - start_us),
            total: config.warmup + config.duration,
            deliveries_per_s: last_rate,
            received: recorder.unique.load(Relaxed),
            bench_cpu,
        });
        if publishing {
            continue;
        }
        let answered = recorder.publish_acked.load(Relaxed) + recorder.publish_failed.load(Relaxed);
        let all_answered = answered >= recorder.published.load(Relaxed);
        let all_received = recorder.unique.load(Relaxed) >= recorder.expected.load(Relaxed);
        if (all_answered && all_received) || now_us >= drain_until_us {
            break;
        }
    }
    Measured {
        timeline,
        bench_cpu: measured_cpu,
        server_cpu: measured_server_cpu,
        rss_max,
    }
}

/// The result: the recorder's counts, latency percentiles, and the CPU and memory used.
fn report(
    shared: &Shared,
    setup_s: f64,
    sessions: u64,
    rss: Rss,
    measured: Measured,
) -> BenchResult {
    let config = &shared.config;
    let recorder = &shared.recorder;
    let server_pid = config.server_pid;
    let Measured {
        timeline,
        bench_cpu: measured_cpu,
        server_cpu: measured_server_cpu,
        rss_max,
    } = measured;
    let (rss_before, rss_after_setup) = (rss.before, rss.after_setup);
    let mut result = BenchResult::skeleton(config);
    result.setup_s = setup_s;
    let duration_s = config.duration.as_secs_f64();
    result.published = recorder.published.load(Relaxed);
    result.publish_rate = recorder.published_measured.load(Relaxed) as f64 / duration_s;
    result.publish_acked = recorder.publish_acked.load(Relaxed);
    result.publish_failed = recorder.publish_failed.load(Relaxed);
    result.deliveries_per_s = recorder.delivered_measured.load(Relaxed) as f64 / duration_s;
    result.expected = recorder.expected.load(Relaxed);
    result.received = recorder.unique.load(Relaxed);
    result.lost = result.expected.saturating_sub(result.received);
    result.duplicated = recorder.duplicated.load(Relaxed);
    result.foreign = recorder.foreign.load(Relaxed);
    result.sessions_lost = recorder.sessions_lost.load(Relaxed);
    result.latency_ms = Percentiles::of(&recorder.histogram());
    let cores = system::available_cores();
    let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let max = |v: &[f64]| {
        v.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let bench_avg = avg(&measured_cpu).unwrap_or(0.0);
    let bench_max = max(&measured_cpu).unwrap_or(0.0);
    result.bench = BenchUse {
        cores_available: cores,
        cpu_cores: bench_avg,
        cpu_cores_max: bench_max,
        saturated: bench_avg >= 0.9 * cores as f64 || bench_max >= 0.95 * cores as f64,
        rss_bytes: system::rss_bytes(None),
    };
    result.server = server_pid.map(|pid| ServerUse {
        pid,
        cpu_cores: avg(&measured_server_cpu),
        cpu_cores_max: max(&measured_server_cpu),
        rss_before_bytes: rss_before,
        rss_after_setup_bytes: rss_after_setup,
        rss_max_bytes: rss_max,
        rss_per_session_bytes: match (rss_before, rss_after_setup) {
            (Some(before), Some(after)) => Some((after as f64 - before as f64) / sessions as f64),
            _ => None,
        },
    });
    let (error_count, errors) = recorder.errors();
    result.error_count = error_count;
    result.errors = errors;
    result.timeline = timeline;
    result
}

/// Lets every session disconnect, then ends whatever is still running.
async fn stop(mut tasks: JoinSet<()>) {
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), all_done)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

async fn subscriber(
    shared: Arc<Shared>,
    index: usize,
    channels: Vec<String>,
    setup_slots: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), BenchError>>,
) {
    let Ok(slot) = setup_slots.acquire().await else {
        return;
    };
    let receiver = Receiver::new(index);
    match shared.config.transport {
        Transport::LongPolling => {
            let opened = long_polling::open(&shared, &channels).await;
            drop(slot);
            match opened {
                Ok(session) => {
                    let _ = ready.send(Ok(()));
                    long_polling::connect_loop(shared, session, receiver).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }
        Transport::WebSocket => {
            let opened = websocket::open(&shared, &channels).await;
            drop(slot);
            match opened {
                Ok(session) => {
                    let _ = ready.send(Ok(()));
                    websocket::read_loop(shared, session, receiver, None).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }
        Transport::PubSub => {
            let opened = pubsub::open(&shared, &channels).await;
            drop(slot);
            match opened {
                Ok(session) => {
                    let _ = ready.send(Ok(()));
                    pubsub::read_loop(shared, session, receiver).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }
    }
}

/// A slow consumer (always over WebSocket, where a client can stop reading).
async fn stalled(
    shared: Arc<Shared>,
    channels: Vec<String>,
    setup_slots: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), BenchError>>,
) {
    let Ok(slot) = setup_slots.acquire().await else {
        return;
    };
    let opened = websocket::open(&shared, &channels).await;
    drop(slot);
    match opened {
        Ok(session) => {
            let _ = ready.send(Ok(()));
            websocket::hold_unread(shared, session).await;
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}

async fn publisher(
    shared: Arc<Shared>,
    index: usize,
    setup_slots: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), BenchError>>,
) {
    let Ok(slot) = setup_slots.acquire().await else {
        return;
    };
    match shared.config.transport {
        Transport::LongPolling => {
            let opened = long_polling::open(&shared, &[]).await;
            drop(slot);
            match opened {
                Ok(session) => {
                    let _ = ready.send(Ok(()));
                    // The session's own connects keep it alive while it publishes.
                    let connects = tokio::spawn(long_polling::connect_loop(
                        Arc::clone(&shared),
                        session.clone(),
                        Receiver::new(index),
                    ));
                    shared.reached(Phase::Publish).await;
                    long_polling::publish(Arc::clone(&shared), session, index).await;
                    let _ = connects.await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }
        // A Pub/Sub run publishes over WebSocket Bayeux too: the same events, read another way.
        Transport::WebSocket | Transport::PubSub => {
            let opened = websocket::open(&shared, &[]).await;
            drop(slot);
            match opened {
                Ok(session) => {
                    let _ = ready.send(Ok(()));
                    websocket::publish(shared, session, index).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }
    }
}
