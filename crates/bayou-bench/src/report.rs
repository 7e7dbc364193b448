//! The result of a run, as JSON: what was asked, what the server did, and whether the bench
//! itself was the limit.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::{BenchConfig, Transport};

/// Publish-to-receive latency, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since publishing started.
    pub t: f64,
    pub deliveries_per_s: f64,
    pub publishes_per_s: f64,
    pub bench_cpu: Option<f64>,
    pub server_cpu: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    /// The highest publish-to-receive latency measured in this second (ms); `None` in the
    /// warm-up and when nothing measured arrived.
    pub max_latency_ms: Option<f64>,
}

/// The load generator's own use of the machine.
#[derive(Debug, Clone, Serialize)]
pub struct BenchUse {
    /// CPUs this process may run on (after `taskset`).
    pub cores_available: usize,
    /// Average cores used while publishing.
    pub cpu_cores: f64,
    /// Busiest second.
    pub cpu_cores_max: f64,
    /// The bench used ≥ 90 % of its cores on average (or ≥ 95 % in some second): the figures
    /// then say at least as much about the bench as about the server.
    pub saturated: bool,
    pub rss_bytes: Option<u64>,
}

/// The server's use of the machine (from `/proc/<pid>`).
#[derive(Debug, Clone, Serialize)]
pub struct ServerUse {
    pub pid: u32,
    pub cpu_cores: Option<f64>,
    pub cpu_cores_max: Option<f64>,
    pub rss_before_bytes: Option<u64>,
    pub rss_after_setup_bytes: Option<u64>,
    pub rss_max_bytes: Option<u64>,
    /// (RSS after setup − RSS before) / sessions: what one connected session costs.
    pub rss_per_session_bytes: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub scenario: String,
    pub url: String,
    pub transport: Transport,
    pub subscribers: usize,
    pub publishers: usize,
    pub rooms: usize,
    pub rooms_per_client: usize,
    pub message_bytes: usize,
    pub batch: usize,
    /// Messages/s offered (`null`: as fast as acknowledged).
    pub target_rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Time to handshake and subscribe every session.
    pub setup_s: f64,
    /// Messages published in the whole run (warm-up included).
    pub published: u64,
    /// Messages/s published while measuring.
    pub publish_rate: f64,
    pub publish_acked: u64,
    pub publish_failed: u64,
    /// Deliveries/s (first receptions of messages published while measuring).
    pub deliveries_per_s: f64,
    /// Deliveries owed: each accepted message times its room's subscribers.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Deliveries that this bench did not publish (someone else on the channels).
    pub foreign: u64,
    pub sessions_lost: u64,
    pub latency_ms: Percentiles,
    pub bench: BenchUse,
    pub server: Option<ServerUse>,
    pub error_count: u64,
    /// The first few errors.
    pub errors: Vec<String>,
    pub timeline: Vec<Sample>,
}

impl BenchResult {
    pub(crate) fn skeleton(config: &BenchConfig) -> Self {
        Self {
            scenario: config.scenario.clone(),
            url: config.url.clone(),
            transport: config.transport,
            subscribers: config.subscribers,
            publishers: config.publishers,
            rooms: config.layout.rooms,
            rooms_per_client: config.layout.rooms_per_client,
            message_bytes: config.message_bytes,
            batch: config.batch,
            target_rate: config.rate,
            warmup_s: config.warmup.as_secs_f64(),
            duration_s: config.duration.as_secs_f64(),
            setup_s: 0.0,
            published: 0,
            publish_rate: 0.0,
            publish_acked: 0,
            publish_failed: 0,
            deliveries_per_s: 0.0,
            expected: 0,
            received: 0,
            lost: 0,
            duplicated: 0,
            foreign: 0,
            sessions_lost: 0,
            latency_ms: Percentiles::default(),
            bench: BenchUse {
                cores_available: 0,
                cpu_cores: 0.0,
                cpu_cores_max: 0.0,
                saturated: false,
                rss_bytes: None,
            },
            server: None,
            error_count: 0,
            errors: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Nothing lost, duplicated or refused, and no session dropped.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.publish_failed == 0
            && self.sessions_lost == 0
    }

    /// The offered rate was actually published: within 5 %, or short by less than two
    /// batches in the measured window (at low rates a window holds few batches).
    pub fn rate_reached(&self) -> bool {
        let two_batches = 2.0 * self.batch as f64 / self.duration_s.max(1e-3);
        self.target_rate.is_none_or(|target| {
            self.publish_rate >= 0.95 * target || self.publish_rate >= target - two_batches
        })
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let l = &self.latency_ms;
        let server = self.server.as_ref().map_or(String::new(), |s| {
            format!(
                ", server {:.2} cores, RSS {:.1} MiB",
                s.cpu_cores.unwrap_or(0.0),
                s.rss_max_bytes.unwrap_or(0) as f64 / 1048576.0
            )
        });
        format!(
            "{} {}: {} subscribers, {:.0} msg/s in, {:.0} deliveries/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}; lost {} duplicated {} publish failures {} sessions lost {}; bench {:.2}/{} cores{}{}",
            self.scenario,
            self.transport.label(),
            self.subscribers,
            self.publish_rate,
            self.deliveries_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.p99_9,
            l.max,
            self.lost,
            self.duplicated,
            self.publish_failed,
            self.sessions_lost,
            self.bench.cpu_cores,
            self.bench.cores_available,
            if self.bench.saturated { " (SATURATED)" } else { "" },
            server
        )
    }
}
