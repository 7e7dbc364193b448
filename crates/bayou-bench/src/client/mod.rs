//! A minimal Bayeux client, one session per task, over long-polling or WebSocket.
//!
//! It does only what a benchmark needs and nothing that would hide a server's behaviour: no
//! client-side queue, no automatic re-handshake (a session the server drops is counted as lost,
//! and so are the messages it would have received), no retry of a failed publish.

pub mod long_polling;
pub mod websocket;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::BenchConfig;
use crate::payload;
use crate::recorder::Recorder;
use crate::tracker::{Seen, Tracker};
use crate::wire::Incoming;
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
        channel
            .rsplit('/')
            .next()
            .and_then(|room| room.parse::<usize>().ok())
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
}

impl Receiver {
    pub fn new(shard: usize) -> Self {
        Self {
            shard,
            tracker: Tracker::default(),
            latencies: Vec::new(),
        }
    }

    pub fn absorb(&mut self, shared: &Shared, messages: &[Incoming<'_>]) -> Absorbed {
        let recorder = &shared.recorder;
        let now = recorder.now_us();
        let mut absorbed = Absorbed::default();
        self.latencies.clear();
        for message in messages {
            if message.is_delivery() {
                let stamp = message.data.and_then(|d| payload::decode(d.get()));
                let Some(stamp) = stamp else {
                    recorder.foreign.fetch_add(1, Relaxed);
                    continue;
                };
                recorder.delivered.fetch_add(1, Relaxed);
                match self.tracker.see(stamp.p, stamp.r, stamp.s) {
                    Seen::First => {
                        recorder.unique.fetch_add(1, Relaxed);
                    }
                    Seen::Duplicate => {
                        recorder.duplicated.fetch_add(1, Relaxed);
                        continue;
                    }
                }
                if recorder.is_measured(stamp.t) {
                    self.latencies.push(now.saturating_sub(stamp.t));
                }
            } else if message.channel == "/meta/connect" {
                absorbed.connect = Some(connect_outcome(message));
            } else if !message.is_meta() && message.successful.is_some() {
                absorbed.publish_replies += 1;
                if message.successful == Some(true) {
                    recorder.publish_acked.fetch_add(1, Relaxed);
                } else {
                    publish_failed(shared, &message.channel, 1, &message.error_text());
                }
            }
        }
        recorder.record_latencies(self.shard, &self.latencies);
        absorbed
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

/// Everything a publisher needs to number and stamp its messages.
pub struct PublisherState {
    pub index: u32,
    seqs: Vec<u64>,
    next_batch: u64,
    next_id: u64,
}

/// One batch ready to send.
pub struct Batch {
    pub channel: String,
    pub body_messages: Vec<String>,
    pub first_id: u64,
}

impl PublisherState {
    pub fn new(index: usize, rooms: usize) -> Self {
        Self {
            index: index as u32,
            seqs: vec![0; rooms],
            next_batch: 0,
            next_id: 0,
        }
    }

    pub fn batches_sent(&self) -> u64 {
        self.next_batch
    }

    /// Builds the next batch (to the next room in turn) and counts it as published.
    pub fn next(&mut self, shared: &Shared) -> Batch {
        let config = &shared.config;
        let rooms = config.layout.rooms;
        let room = (self.index as usize + self.next_batch as usize) % rooms;
        self.next_batch += 1;
        let recorder = &shared.recorder;
        let t = recorder.now_us();
        let body_messages: Vec<String> = (0..config.batch)
            .map(|_| {
                let s = self.seqs[room];
                self.seqs[room] += 1;
                let stamp = payload::Stamp {
                    p: self.index,
                    r: room as u32,
                    s,
                    t,
                };
                payload::encode(stamp, config.message_bytes)
            })
            .collect();
        let count = config.batch as u64;
        recorder.published.fetch_add(count, Relaxed);
        if recorder.is_measured(t) {
            recorder.published_measured.fetch_add(count, Relaxed);
        }
        recorder
            .expected
            .fetch_add(count * shared.members[room], Relaxed);
        let first_id = self.next_id;
        self.next_id += count;
        Batch {
            channel: config.layout.channel(room),
            body_messages,
            first_id,
        }
    }
}

/// The pacing of one publisher: when its next batch is due.
///
/// Publishers are staggered: publisher `i` of `P` sends its batches at `(n + i/P) / rate`, so
/// all of them together send evenly spaced batches rather than `P` at once.
pub struct Pacer {
    start_us: u64,
    until_us: u64,
    batches_per_us: Option<f64>,
    phase: f64,
}

/// What a publisher should do next.
pub enum Pace {
    Send,
    WaitUs(u64),
    Done,
}

impl Pacer {
    pub fn new(shared: &Shared, index: usize) -> Self {
        let config = &shared.config;
        Self::from_parts(
            shared.publish_start_us.load(Relaxed),
            shared.recorder.measure_until_us.load(Relaxed),
            config.rate,
            config.publishers,
            config.batch,
            index,
        )
    }

    fn from_parts(
        start_us: u64,
        until_us: u64,
        rate: Option<f64>,
        publishers: usize,
        batch: usize,
        index: usize,
    ) -> Self {
        Self {
            start_us,
            until_us,
            batches_per_us: rate.map(|r| r / (publishers as f64 * batch as f64) / 1e6),
            phase: index as f64 / publishers as f64,
        }
    }

    pub fn next(&self, now_us: u64, batches_sent: u64) -> Pace {
        if now_us >= self.until_us {
            return Pace::Done;
        }
        let Some(per_us) = self.batches_per_us else {
            return Pace::Send;
        };
        let due_at = self.start_us + ((batches_sent as f64 + self.phase) / per_us) as u64;
        if due_at <= now_us {
            Pace::Send
        } else {
            Pace::WaitUs((due_at - now_us).min(self.until_us - now_us))
        }
    }
}

/// Shared handle type for session tasks.
pub type SharedRef = Arc<Shared>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Send times of the first batches of `publishers` paced at `rate` (batches of 10).
    fn schedule(rate: f64, publishers: usize, until_us: u64) -> Vec<u64> {
        let mut times = Vec::new();
        for index in 0..publishers {
            let pacer = Pacer::from_parts(0, until_us, Some(rate), publishers, 10, index);
            let mut sent = 0;
            let mut now = 0;
            loop {
                match pacer.next(now, sent) {
                    Pace::Done => break,
                    Pace::Send => {
                        times.push(now);
                        sent += 1;
                    }
                    Pace::WaitUs(us) => now += us,
                }
            }
        }
        times.sort_unstable();
        times
    }

    #[test]
    fn publishers_together_send_evenly_spaced_batches_at_the_rate() {
        // 1,000 msg/s in batches of 10 from 4 publishers: a batch every 10 ms, in turn.
        let times = schedule(1_000.0, 4, 1_000_000);
        assert_eq!(times.len(), 100);
        for (n, t) in times.iter().enumerate() {
            assert_eq!(*t / 100, (n as u64 * 10_000) / 100, "batch {n} at {t} µs");
        }
        // A low rate still spreads: 50 msg/s from 10 publishers is one batch every 200 ms.
        let times = schedule(50.0, 10, 1_000_000);
        assert_eq!(times.len(), 5);
        assert!(
            times.windows(2).all(|w| w[1] - w[0] >= 199_000),
            "{times:?}"
        );
    }
}
