//! `bayou bench`: load any Bayeux server (Bayou, faye, CometD, …) and measure it.
//!
//! The work is in the `bayou-bench` crate; this file turns flags into a configuration, draws a
//! progress bar on stderr, and writes the JSON result (stdout or `--json`) and an SVG chart.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bayou_bench::{BenchConfig, Layout, Progress, SearchConfig, Transport};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

/// A starting shape; every other flag overrides a part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// N subscribers on one channel, publishers at a target rate.
    Fanout,
    /// 50 subscribers on one channel, one publisher at 100 messages/s of 200 bytes.
    FiftyClients,
    /// CometD's chat benchmark: 100 rooms, 10 rooms per client, 50-byte messages in batches
    /// of 10, 1,000 messages/s offered.
    Chat,
    /// A handshake storm: --subscribers loops (default 64) each handshake over long-polling
    /// as fast as the server answers, for --duration; reports handshakes per second.
    Handshakes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTransport {
    LongPolling,
    Websocket,
    /// Subscribers on the Pub/Sub API (gRPC, Avro), publishers on WebSocket: channels must
    /// be platform events (`--channel '/event/Bench_{room}__e'`, see docs/bench.md).
    Pubsub,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server's Bayeux URL, e.g. http://127.0.0.1:8080/cometd/66.0 (Bayou),
    /// http://127.0.0.1:8000/faye (faye), http://127.0.0.1:8000/cometd (CometD).
    #[arg(default_value = "http://127.0.0.1:8080/cometd/66.0")]
    pub url: String,

    #[arg(long, value_enum, default_value = "fanout")]
    pub scenario: Scenario,

    #[arg(long, value_enum, default_value = "websocket")]
    pub transport: BenchTransport,

    /// Subscribing clients [fanout: 10, fifty-clients: 50, chat: 1000].
    #[arg(long)]
    pub subscribers: Option<usize>,

    /// Publishing clients (separate sessions) [fanout and fifty-clients: 1, chat: 10].
    #[arg(long)]
    pub publishers: Option<usize>,

    /// Messages per second offered by all publishers together, or `max` (as fast as the
    /// server acknowledges) [fanout and fifty-clients: 100, chat: 1000].
    #[arg(long)]
    pub rate: Option<String>,

    /// Slow consumers: WebSocket sessions that join rooms as the subscribers do, then never read,
    /// beside the subscribers that are measured [default: 0].
    #[arg(long, default_value_t = 0)]
    pub stalled: usize,

    /// Messages per publish request [chat: 10, else 1].
    #[arg(long)]
    pub batch: Option<usize>,

    /// Size of each message's data, in bytes [chat: 50, else 200].
    #[arg(long)]
    pub message_bytes: Option<usize>,

    /// Channel prefix: channels are PREFIX/0, PREFIX/1, … [/bench/fanout, /bench/fifty,
    /// /chat/room]. Bayou refuses Bayeux publishes into /topic, /u, /event and /data.
    #[arg(long)]
    pub channel: Option<String>,

    /// Channels (rooms) [chat: 100, else 1].
    #[arg(long)]
    pub rooms: Option<usize>,

    /// Rooms each subscriber joins [chat: 10, else 1].
    #[arg(long)]
    pub rooms_per_client: Option<usize>,

    /// Measured publishing time, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Publishing before measuring (latencies not recorded; loss still counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// How long to wait for the last deliveries after publishing stops.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain: Duration,

    /// Bearer token for servers that need one (Bayou without --anonymous, the Pub/Sub API).
    #[arg(long, env = "BAYOU_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The Pub/Sub API, for --transport pubsub.
    #[arg(long, default_value = "https://127.0.0.1:7443")]
    pub pubsub_url: String,

    /// A PEM certificate to trust for the Pub/Sub API (Bayou's `<data-dir>/pubsub-cert.pem`).
    #[arg(long)]
    pub ca_cert: Option<std::path::PathBuf>,

    /// The server's pid: its CPU and RSS are read from /proc and reported.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Sessions set up at once.
    #[arg(long, default_value_t = 64)]
    pub setup_concurrency: usize,

    /// Messages a publisher may have unacknowledged.
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: usize,

    /// Search for the highest rate with p99 ≤ --max-p99-ms (and nothing lost), instead of
    /// one run at --rate. Each step is a full run.
    #[arg(long)]
    pub search: bool,

    /// The latency bound of --search, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub max_p99_ms: f64,

    /// The first rate --search tries (messages/s offered).
    #[arg(long, default_value_t = 100.0)]
    pub start_rate: f64,

    /// The highest rate --search tries.
    #[arg(long, default_value_t = 1e7)]
    pub max_rate: f64,

    /// Most rates --search tries.
    #[arg(long, default_value_t = 12)]
    pub max_steps: usize,

    /// Runs --search makes at a rate that failed only on latency before calling it
    /// unsustained (loss or an unreached rate is never retried).
    #[arg(long, default_value_t = 1)]
    pub attempts: usize,

    /// Write the JSON result here instead of stdout.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write an SVG chart here.
    #[arg(long)]
    pub svg: Option<PathBuf>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

impl BenchArgs {
    fn config(&self) -> anyhow::Result<BenchConfig> {
        let transport = match self.transport {
            BenchTransport::LongPolling => Transport::LongPolling,
            BenchTransport::Websocket => Transport::WebSocket,
            BenchTransport::Pubsub => Transport::PubSub,
        };
        let mut config = match self.scenario {
            Scenario::Fanout | Scenario::Handshakes => BenchConfig::new(&self.url, transport),
            Scenario::FiftyClients => BenchConfig::fifty_clients(&self.url, transport),
            Scenario::Chat => {
                BenchConfig::chat(&self.url, transport, self.subscribers.unwrap_or(1_000))
            }
        };
        if let Some(n) = self.subscribers {
            config.subscribers = n;
        }
        if let Some(n) = self.publishers {
            config.publishers = n;
        }
        if let Some(rate) = &self.rate {
            config.rate = match rate.as_str() {
                "max" => None,
                number => Some(
                    number
                        .parse()
                        .with_context(|| format!("--rate {number:?}: a number or `max`"))?,
                ),
            };
        }
        if let Some(n) = self.batch {
            config.batch = n;
        }
        if let Some(n) = self.message_bytes {
            config.message_bytes = n;
        }
        if let Some(channel) = &self.channel {
            config.layout = Layout {
                prefix: channel.trim_end_matches('/').to_owned(),
                ..config.layout
            };
        }
        if let Some(n) = self.rooms {
            config.layout.rooms = n;
        }
        if let Some(n) = self.rooms_per_client {
            config.layout.rooms_per_client = n;
        }
        config.duration = self.duration;
        config.warmup = self.warmup;
        config.drain = self.drain;
        config.token = self.token.clone();
        if transport == Transport::PubSub {
            config.pubsub_url = Some(self.pubsub_url.clone());
            if let Some(path) = &self.ca_cert {
                config.pubsub_ca = Some(
                    std::fs::read(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                );
            }
        }
        config.server_pid = self.server_pid;
        config.setup_concurrency = self.setup_concurrency;
        config.stalled = self.stalled;
        config.max_in_flight = self.max_in_flight.max(config.batch);
        config.validate()?;
        Ok(config)
    }
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:>10} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn show(bar: &ProgressBar, p: &Progress) {
    bar.set_prefix(p.phase);
    if p.phase == "connecting" {
        bar.set_length(p.sessions);
        bar.set_position(p.ready);
        bar.set_message(format!("{}/{} sessions", p.ready, p.sessions));
        return;
    }
    let total = p.total.as_millis().max(1) as u64;
    bar.set_length(total);
    bar.set_position((p.elapsed.as_millis() as u64).min(total));
    let cpu = p
        .bench_cpu
        .map_or(String::new(), |c| format!(" · bench CPU {c:.2} cores"));
    bar.set_message(format!(
        "{:.1}/{:.0} s · {:.0} deliveries/s · {} received{cpu}",
        p.elapsed.as_secs_f64(),
        p.total.as_secs_f64(),
        p.deliveries_per_s,
        p.received
    ));
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.scenario == Scenario::Handshakes {
        let storm = bayou_bench::storm::StormConfig {
            url: config.url,
            token: config.token,
            clients: args.subscribers.unwrap_or(64),
            duration: config.duration,
            server_pid: config.server_pid,
        };
        let result = runtime
            .block_on(bayou_bench::storm::run(storm))
            .context("the handshake storm could not run")?;
        eprintln!(
            "{} handshakes, {:.0}/s, {} failed, p99 {:.1} ms",
            result.handshakes, result.handshakes_per_s, result.failed, result.latency_ms.p99
        );
        return write_json(&args, &serde_json::to_string_pretty(&result)?);
    }
    let bar = progress_bar(args.quiet);
    let on_progress = {
        let bar = bar.clone();
        move |p: &Progress| show(&bar, p)
    };
    let (json, svg, saturated) = if args.search {
        let search = SearchConfig {
            start_rate: args.start_rate,
            max_rate: args.max_rate,
            max_p99_ms: args.max_p99_ms,
            max_steps: args.max_steps,
            attempts: args.attempts,
            ..SearchConfig::default()
        };
        let on_step = {
            let bar = bar.clone();
            move |step: &bayou_bench::search::SearchStep| {
                let verdict = match &step.reason {
                    None => "sustained".to_owned(),
                    Some(why) => format!("not sustained: {why} (attempt {})", step.attempts),
                };
                let line = format!(
                    "{:>10.0} msg/s: {verdict}\n  {}",
                    step.rate,
                    step.result.summary()
                );
                // A hidden bar (not a terminal, or --quiet) prints nothing: log plainly then.
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
        };
        let result = runtime
            .block_on(bayou_bench::search(config, search, &on_step, &on_progress))
            .context("the rate search could not run")?;
        bar.finish_and_clear();
        match (result.best_rate, result.best_deliveries_per_s) {
            (Some(rate), Some(d)) => eprintln!(
                "best sustained: {rate:.0} msg/s in, {d:.0} deliveries/s (p99 ≤ {} ms){}",
                result.max_p99_ms,
                if result.hit_max_rate {
                    ", stopped at --max-rate"
                } else {
                    ""
                }
            ),
            _ => eprintln!("no rate sustained with p99 ≤ {} ms", result.max_p99_ms),
        }
        let saturated = result
            .steps
            .iter()
            .any(|s| s.sustained && s.result.bench.saturated);
        (
            serde_json::to_string_pretty(&result)?,
            bayou_bench::svg::search_chart(&result),
            saturated,
        )
    } else {
        let result = runtime
            .block_on(bayou_bench::run(config, &on_progress))
            .context("the benchmark could not run")?;
        bar.finish_and_clear();
        eprintln!("{}", result.summary());
        for error in &result.errors {
            eprintln!("  error: {error}");
        }
        (
            serde_json::to_string_pretty(&result)?,
            bayou_bench::svg::run_chart(&result),
            result.bench.saturated,
        )
    };
    if saturated {
        eprintln!(
            "warning: the load generator used (nearly) all its CPUs: the server may be faster than these figures say (pin them apart with taskset)"
        );
    }
    write_json(&args, &json)?;
    if let Some(path) = &args.svg {
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The JSON result to `--json`, or stdout.
fn write_json(args: &BenchArgs, json: &str) -> anyhow::Result<()> {
    match &args.json {
        Some(path) => {
            std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            println!("{json}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
