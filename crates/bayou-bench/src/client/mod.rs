//! A minimal Bayeux client, one session per task, over long-polling or WebSocket.
//!
//! It does only what a benchmark needs and nothing that would hide a server's behaviour: no
//! client-side queue, no automatic re-handshake (a session the server drops is counted as lost,
//! and so are the messages it would have received), no retry of a failed publish.

mod http1;
pub mod long_polling;
mod pacer;
mod publisher;
pub mod pubsub;
pub mod websocket;

pub use pacer::{Pace, Pacer};
pub use publisher::{Batch, PublisherState};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::BenchConfig;
use crate::payload;
use crate::recorder::Recorder;
use crate::tracker::{Seen, Tracker};
use crate::wire::{self, Incoming};
use crate::BenchError;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Sessions handshake and subscribe.
    Setup,
    /// Publishers publish (warm-up, then measured).
    Publish,
    /// Everything stops: sessions disconnect.
    Stop,
}

/// What every session task shares.
pub struct Shared {
    pub config: BenchConfig,
    pub recorder: Recorder,
    /// Subscribers per room.
    pub members: Vec<u64>,
    pub http: reqwest::Client,
    pub phase: watch::Receiver<Phase>,
    /// When publishing started, µs since the recorder's epoch.
    pub publish_start_us: AtomicU64,
}

impl Shared {
    pub fn members_of_channel(&self, channel: &str) -> u64 {
        self.config
            .layout
            .room_of(channel)
            .and_then(|room| self.members.get(room).copied())
            .unwrap_or(0)
    }

    /// Waits until the run reaches `phase` (or the run is gone).
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.phase.clone();
        let _ = rx.wait_for(|p| *p >= phase).await;
    }
}

/// What a connect reply said.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    Ok,
    /// The session is gone (reconnect advice `handshake` or `none`, or an error).
    Lost(String),
}

/// What one response or frame held, beyond the deliveries already recorded.
#[derive(Debug, Default)]
pub struct Absorbed {
    pub connect: Option<ConnectOutcome>,
    /// Publish replies (successful or not): each frees one in-flight slot.
    pub publish_replies: usize,
}

/// Reads deliveries into the tracker and the histograms; one per session.
pub struct Receiver {
    shard: usize,
    tracker: Tracker,
    latencies: Vec<u64>,
    /// The stamps of one response or frame, reused.
    stamps: Vec<payload::Stamp>,
}

impl Receiver {
    pub fn new(shard: usize) -> Self {
        Self {
            shard,
            tracker: Tracker::default(),
            latencies: Vec::new(),
            stamps: Vec::new(),
        }
    }

    /// Deliveries, by their stamps: counted (first time or duplicate) and their latencies
    /// recorded, the shared counters touched once for all of them.
    pub fn absorb_stamps(&mut self, shared: &Shared, stamps: &[payload::Stamp]) {
        let recorder = &shared.recorder;
        let now = recorder.now_us();
        let (mut unique, mut duplicated) = (0, 0);
        self.latencies.clear();
        for stamp in stamps {
            match self.tracker.see(stamp.p, stamp.r, stamp.s) {
                Seen::First => unique += 1,
                Seen::Duplicate => {
                    duplicated += 1;
                    continue;
                }
            }
            if recorder.is_measured(stamp.t) {
                self.latencies.push(now.saturating_sub(stamp.t));
            }
        }
        let delivered = stamps.len() as u64;
        for (counter, n) in [
            (&recorder.delivered, delivered),
            (&recorder.unique, unique),
            (&recorder.duplicated, duplicated),
        ] {
            if n > 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
        recorder.record_latencies(self.shard, &self.latencies);
    }

    /// One Bayeux response or frame: its deliveries, connect reply and publish replies, each
    /// message looked at as it is read. `Err` for a body that is not Bayeux JSON (the
    /// messages before the fault are counted).
    pub fn absorb(&mut self, shared: &Shared, body: &[u8]) -> Result<Absorbed, String> {
        let recorder = &shared.recorder;
        let mut absorbed = Absorbed::default();
        let (mut foreign, mut acked) = (0, 0);
        let mut stamps = std::mem::take(&mut self.stamps);
        stamps.clear();
        let read = wire::decode_each(body, |message| {
            if message.is_delivery() {
                match message.stamp {
                    Some(stamp) => stamps.push(stamp),
                    None => foreign += 1,
                }
            } else if message.channel == "/meta/connect" {
                absorbed.connect = Some(connect_outcome(message));
            } else if !message.is_meta() && message.successful.is_some() {
                absorbed.publish_replies += 1;
                if message.successful == Some(true) {
                    acked += 1;
                } else {
                    publish_failed(shared, &message.channel, 1, &message.error_text());
                }
            }
        });
        self.absorb_stamps(shared, &stamps);
        self.stamps = stamps;
        for (counter, n) in [
            (&recorder.foreign, foreign),
            (&recorder.publish_acked, acked),
        ] {
            if n > 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
        read.map(|()| absorbed)
    }
}

fn connect_outcome(message: &Incoming<'_>) -> ConnectOutcome {
    let reconnect = message.advice.as_ref().and_then(|a| a.reconnect.as_deref());
    if message.successful == Some(true) && !matches!(reconnect, Some("handshake" | "none")) {
        ConnectOutcome::Ok
    } else {
        ConnectOutcome::Lost(format!(
            "/meta/connect: {} (reconnect advice {})",
            message.error_text(),
            reconnect.unwrap_or("none given")
        ))
    }
}

/// `count` messages to `channel` were not accepted: they are not expected anywhere.
pub fn publish_failed(shared: &Shared, channel: &str, count: u64, why: &str) {
    let recorder = &shared.recorder;
    recorder.publish_failed.fetch_add(count, Relaxed);
    recorder
        .expected
        .fetch_sub(count * shared.members_of_channel(channel), Relaxed);
    recorder.error(format!("publish to {channel} failed: {why}"));
}

/// The clientId of a handshake reply.
pub fn client_id(messages: &[Incoming<'_>]) -> Result<String, BenchError> {
    let reply = messages
        .iter()
        .find(|m| m.channel == "/meta/handshake")
        .ok_or_else(|| BenchError::Protocol("no /meta/handshake reply".to_owned()))?;
    match (&reply.successful, &reply.client_id) {
        (Some(true), Some(id)) => Ok(id.to_string()),
        _ => Err(BenchError::Refused {
            what: "the handshake",
            detail: reply.error_text(),
        }),
    }
}

/// Counts successful `/meta/subscribe` replies; an unsuccessful one is an error.
pub fn subscribed(messages: &[Incoming<'_>]) -> Result<usize, BenchError> {
    let mut ok = 0;
    for reply in messages.iter().filter(|m| m.channel == "/meta/subscribe") {
        if reply.successful != Some(true) {
            return Err(BenchError::Refused {
                what: "a subscription",
                detail: reply.error_text(),
            });
        }
        ok += 1;
    }
    Ok(ok)
}

/// Shared handle type for session tasks.
pub type SharedRef = Arc<Shared>;
