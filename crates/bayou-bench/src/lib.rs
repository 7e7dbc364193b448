//! `bayou-bench`: a load generator for any Bayeux server (Bayou, faye, CometD, …).
//!
//! Why a library and not just a command: the `bayou bench` subcommand, the smoke test in this
//! crate and the comparison script all drive the same code, so a number in
//! `docs/benchmarks.md` means the same thing whoever produced it.
//!
//! How a run works:
//! - [`config`]: what to run — subscribers, publishers, rate, message size, channel layout
//!   (one channel, or CometD's chat rooms), duration, warm-up.
//! - [`client`]: a minimal Bayeux client over long-polling or WebSocket, just enough to
//!   handshake, subscribe, hold connects and publish, with no behaviour that would hide a
//!   server's slowness (no client-side queueing, no retries that would mask loss).
//! - [`payload`]: every published message carries its publisher, room, sequence number and
//!   send time on the bench's own monotonic clock, so latency is publish-to-receive on one clock.
//! - [`tracker`]: counts lost and duplicated messages by (publisher, room, sequence).
//! - [`recorder`]: HdrHistogram latencies, delivery counters and a per-second timeline.
//! - [`system`]: CPU and RSS of the bench itself and of the server (`/proc/<pid>`), so a
//!   result says when the load generator, not the server, was the limit.
//! - [`storm`]: a handshake storm (handshakes per second), apart from the delivery runs.
//! - [`run`] one measured run, [`search`] the highest rate that keeps p99 under a bound,
//!   [`report`] the JSON result and [`svg`] a hand-written chart.

pub mod client;
pub mod config;
pub mod payload;
pub mod recorder;
pub mod report;
pub mod run;
#[doc(hidden)]
pub mod scan;
pub mod search;
pub mod storm;
pub mod svg;
pub mod system;
pub mod tracker;
#[doc(hidden)]
pub mod wire;

pub use config::{BenchConfig, Layout, Transport};
pub use report::{BenchResult, Percentiles};
pub use run::{run, Progress};
pub use search::{search, SearchConfig, SearchResult};

/// Why a run could not be carried out (a server that is merely slow still gives a result).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot reach {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("WebSocket to {url}: {source}")]
    WebSocket {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("the server refused {what}: {detail}")]
    Refused { what: &'static str, detail: String },
    #[error("the server sent something that is not Bayeux: {0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(String),
}
